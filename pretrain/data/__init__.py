"""Pretraining data: the SiameseIM two-view transform, the block mask generator and the image-folder dataset."""
from .dataset import PretrainImageFolder, scan_images
from .masking import BlockMaskGenerator
from .sampler import EpochIndexSampler
from .transforms import (MAEPretrainTransform, PhotometricAugment, SiameseTwoViewTransform, ViewGeometry,
                         apply_view_geometry, random_resized_crop_params, relative_position, sample_view_geometry)

__all__ = [
    'PretrainImageFolder', 'scan_images', 'BlockMaskGenerator', 'EpochIndexSampler', 'MAEPretrainTransform', 'PhotometricAugment',
    'SiameseTwoViewTransform', 'ViewGeometry', 'apply_view_geometry', 'random_resized_crop_params',
    'relative_position', 'sample_view_geometry'
]
