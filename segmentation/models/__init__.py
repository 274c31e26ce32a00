"""Segmentors registered in mmseg's ``MODELS``."""
from .segmentor import ViTEncoderDecoder, slide_windows

__all__ = ['ViTEncoderDecoder', 'slide_windows']
