"""ViT size presets (width, depth, heads, patch) and the parsing of their names.

Shared by the backbone (:class:`~siameseim.models.vit.ViT`) and the checkpoint importer, which names the preset a
checkpoint's sizes belong to.
"""
import re
from typing import Dict

ARCHS: Dict[str, Dict[str, int]] = {
    'tiny': dict(embed_dim=192, depth=12, num_heads=3, patch_size=16),
    'small': dict(embed_dim=384, depth=12, num_heads=6, patch_size=16),
    'base': dict(embed_dim=768, depth=12, num_heads=12, patch_size=16),
    'large': dict(embed_dim=1024, depth=24, num_heads=16, patch_size=16),
    'huge': dict(embed_dim=1280, depth=32, num_heads=16, patch_size=14),
}
_ARCH_LETTERS = {'t': 'tiny', 's': 'small', 'b': 'base', 'l': 'large', 'h': 'huge'}
_ARCH_PATTERN = re.compile(r'^(?:vit)?[-_/ ]?(tiny|small|base|large|huge|t|s|b|l|h)'
                           r'(?:[-_/ ]?(?:patch)?(\d+))?(?:[-_]\d+)?$')


def resolve_arch(name: str) -> Dict[str, int]:
    """Width, depth, heads and patch size of an arch name.

    Accepts presets and their aliases: ``'base'``, ``'vit-b'``, ``'ViT-L/16'``, ``'vit_huge_patch14'``.
    """
    match = _ARCH_PATTERN.match(name.strip().lower())
    if match is None:
        raise ValueError(f'unknown ViT arch {name!r}: use one of {sorted(ARCHS)} '
                         f"(aliases like 'vit-b', 'ViT-L/16', 'vit_base_patch16' work too)")
    size, patch = match.groups()
    arch = dict(ARCHS[_ARCH_LETTERS.get(size, size)])
    if patch is not None:
        arch['patch_size'] = int(patch)
    return arch


__all__ = ['ARCHS', 'resolve_arch']
