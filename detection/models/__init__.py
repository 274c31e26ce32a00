"""Detector parts of the ViTDet recipe that mmdet 3.3 lacks."""
from .federated_loss import FederatedLoss, federated_class_weights, read_lvis_categories
from .layer_norm_2d import LayerNorm2d
from .simple_fpn import SimpleFPN

__all__ = ['FederatedLoss', 'LayerNorm2d', 'SimpleFPN', 'federated_class_weights', 'read_lvis_categories']
