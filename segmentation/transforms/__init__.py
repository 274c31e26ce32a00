"""Data transforms registered in mmseg's ``TRANSFORMS``."""
from .resize import MinShortSideResize, min_short_side_scale

__all__ = ['MinShortSideResize', 'min_short_side_scale']
