"""ImageFolder datasets over wnid folders with ImageNet-1k labels."""
from .wnid_folder import CorruptImageError, WnidImageFolder, scan_wnid_folder

__all__ = ['CorruptImageError', 'WnidImageFolder', 'scan_wnid_folder']
