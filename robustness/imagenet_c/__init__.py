"""ImageNet-C corruptions (Hendrycks & Dietterich, 2019) on NumPy 2 / SciPy / OpenCV, and the tree writer."""
from .corruptions import CORRUPTION_FUNCTIONS, corrupt
from .generate import corrupt_folder, imagenet_c_preprocess

__all__ = ['CORRUPTION_FUNCTIONS', 'corrupt', 'corrupt_folder', 'imagenet_c_preprocess']
