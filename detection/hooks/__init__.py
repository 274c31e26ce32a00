"""Training hooks of the detection task."""
from .fp16_compression import Fp16CompressionHook

__all__ = ['Fp16CompressionHook']
