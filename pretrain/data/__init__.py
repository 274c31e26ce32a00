"""Pretraining data: the SiameseIM two-view transforms (PIL reference and uint8 fast path), the block and the
uniform random mask generators and the image-folder dataset."""
from .dataset import PretrainImageFolder, scan_images
from .decoding import EncodedImage, UnreadableImageError
from .fast_transforms import ArrayPhotometricAugment, FastSiameseTwoViewTransform
from .masking import BlockMaskGenerator
from .random_masking import RandomMaskGenerator
from .sampler import EpochIndexSampler
from .transforms import (MAEPretrainTransform, PhotometricAugment, SiameseTwoViewTransform, ViewGeometry,
                         apply_view_geometry, random_resized_crop_params, relative_position, sample_view_geometry)

__all__ = [
    'PretrainImageFolder', 'scan_images', 'EncodedImage', 'UnreadableImageError', 'ArrayPhotometricAugment',
    'FastSiameseTwoViewTransform', 'BlockMaskGenerator', 'RandomMaskGenerator', 'EpochIndexSampler',
    'MAEPretrainTransform', 'PhotometricAugment', 'SiameseTwoViewTransform', 'ViewGeometry', 'apply_view_geometry',
    'random_resized_crop_params', 'relative_position', 'sample_view_geometry'
]
