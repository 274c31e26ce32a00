"""ImageNet classification and robustness (A, R, Sketch, C) of SiameseIM Suite on the shared ViT backbone.

Importing the package registers the classifier, datasets, transforms and metrics in the ``siameseim`` scope,
which is what the configs' ``custom_imports = dict(imports=['siameseim.robustness'])`` relies on.
"""
from . import datasets, metrics, models, transforms  # noqa: F401
