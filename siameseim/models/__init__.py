"""Models of the shared core."""
from .vit import ARCHS, PatchEmbed, ViT, build_backbone, resolve_arch

__all__ = ['ARCHS', 'PatchEmbed', 'ViT', 'build_backbone', 'resolve_arch']
