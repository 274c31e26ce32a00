"""SiameseIM pretraining on mmengine: models, losses, two-view data, momentum hook.

Importing the package registers everything in the ``siameseim`` registry scope, which is what the configs'
``custom_imports = dict(imports=['siameseim.pretrain'])`` relies on.
"""
from . import data, hooks, losses, models  # noqa: F401
