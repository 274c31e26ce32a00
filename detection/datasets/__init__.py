"""COCO / LVIS v1 datasets with clear errors for bad dataset files, and LVIS repeat-factor sampling."""
from .checks import DatasetFileError, check_image_files, check_instances, load_instances_json
from .coco import CheckedCOCO, CheckedCocoDataset
from .lvis import CheckedLVIS, CheckedLVISV1Dataset
from .repeat_factor_sampler import RepeatFactorSampler, repeat_factors

__all__ = [
    'CheckedCOCO', 'CheckedCocoDataset', 'CheckedLVIS', 'CheckedLVISV1Dataset', 'DatasetFileError',
    'RepeatFactorSampler', 'check_image_files', 'check_instances', 'load_instances_json', 'repeat_factors'
]
