"""Losses of the pretraining task: UniGrad (SiameseIM), the ablation's feature and pixel L2, MoCo-v3's InfoNCE."""
from .feature_l2 import FeatureL2Loss
from .infonce import InfoNCELoss, gather_keys, infonce_loss
from .pixel_l2 import PixelL2Loss, normalize_patches
from .unigrad import UniGradLoss, target_second_moment, unigrad_loss

__all__ = [
    'FeatureL2Loss', 'InfoNCELoss', 'PixelL2Loss', 'UniGradLoss', 'gather_keys', 'infonce_loss', 'normalize_patches',
    'target_second_moment', 'unigrad_loss'
]
