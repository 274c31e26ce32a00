"""ADE20k semantic segmentation (UperNet, MAE recipe) of SiameseIM Suite on the shared ViT backbone.

Importing the package registers its dataset, transform, segmentor and metric in mmseg's registries, which is
what the configs' ``custom_imports = dict(imports=['siameseim.segmentation'])`` relies on.
"""
from . import datasets, evaluation, models, transforms  # noqa: F401
