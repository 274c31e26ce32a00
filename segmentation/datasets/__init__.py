"""Segmentation datasets registered in mmseg's ``DATASETS``."""
from .ade20k import CheckedADE20KDataset, check_annotations

__all__ = ['CheckedADE20KDataset', 'check_annotations']
