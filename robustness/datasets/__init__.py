"""ImageFolder datasets over wnid folders with ImageNet-1k labels, and ImageNet-C as one dataset."""
from .imagenet_c import ImageNetC, imagenet_c_folders
from .wnid_folder import DECODES, CorruptImageError, WnidImageFolder, scan_wnid_folder

__all__ = ['DECODES', 'CorruptImageError', 'ImageNetC', 'WnidImageFolder', 'imagenet_c_folders', 'scan_wnid_folder']
