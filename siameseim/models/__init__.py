"""Models of the shared core."""
from .presets import ARCHS, resolve_arch
from .vit import PatchEmbed, ViT, build_backbone

__all__ = ['ARCHS', 'PatchEmbed', 'ViT', 'build_backbone', 'resolve_arch']
