"""Which format a checkpoint is in, from its keys and, for the timm-style family, its position table.

SiameseIM and MoCo-v3 store a fixed row-first sin-cos table, MAE a column-first one (docs/method.md §1.2);
:func:`sincos_convention` recognises them numerically, so a learned table is never mistaken for a fixed one.
"""
import functools
import math
import re
from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch

from ..layers import sincos_2d
from .errors import CheckpointError
from .formats import SUITE_FORMAT, is_suite_checkpoint, unwrap

def _looks_like_vit(keys: Sequence[str]) -> bool:
    return (any(re.search(r'(^|\.)(blocks|layers)\.\d+\.', key) for key in keys)
            and any('patch_embed' in key for key in keys))


_MM_LAYER = re.compile(r'^(layers\.\d+\.|patch_embed\.projection\.)')
_MMSEG_ONLY = re.compile(r'(\.gamma_[12]|\.attn\.attn\.in_proj_weight|relative_position_bias_table)$')


def _square_side(count: int) -> Optional[int]:
    side = math.isqrt(count)
    return side if side * side == count and side > 0 else None


@functools.lru_cache(maxsize=8)
def _sincos_tables(dim: int, grid: Tuple[int, int]) -> Dict[str, torch.Tensor]:
    return {convention: sincos_2d(dim, grid, row_first=convention == 'row_first')[0]
            for convention in ('row_first', 'col_first')}


def sincos_convention(pos_embed: torch.Tensor, num_prefix: int, grid: Optional[Tuple[int, int]]) -> Optional[str]:
    """``'row_first'`` / ``'col_first'`` when the table is exactly a fixed 2-D sin-cos table (docs/method.md §1.2)."""
    dim = pos_embed.shape[-1]
    if grid is None or dim % 4 or pos_embed.shape[1] != num_prefix + grid[0] * grid[1]:
        return None
    patches = pos_embed[0, num_prefix:].float()
    for convention, table in _sincos_tables(dim, tuple(grid)).items():
        # 2e-3 admits fp16-stored tables; the first rows reject learned tables cheaply
        if all((patches[rows] - table[rows]).abs().max() <= 2e-3 for rows in (slice(0, 2), slice(None))):
            return convention
    return None


def pos_embed_layout(state_dict: Mapping[str, torch.Tensor],
                      grid_hint: Optional[Sequence[int]] = None) -> Tuple[int, Optional[Tuple[int, int]]]:
    """Prefix rows and patch grid of a canonical ``pos_embed``.

    The prefix is one row per cls / distillation token; a table that keeps a cls row without the token
    (detectron2 ViTDet) is recognised by its square patch count. Grids are square unless ``grid_hint`` fits.
    """
    rows = state_dict['pos_embed'].shape[1]
    prefix = int('cls_token' in state_dict) + int('dist_token' in state_dict)
    if grid_hint is not None and prefix + grid_hint[0] * grid_hint[1] == rows:
        return prefix, (int(grid_hint[0]), int(grid_hint[1]))
    for candidate in dict.fromkeys((prefix, 1, 0, 2)):
        side = _square_side(rows - candidate)
        if side:
            return candidate, (side, side)
    return prefix, None


def detect_format(checkpoint: Mapping) -> str:
    """Name of the checkpoint format (a key of :data:`FORMATS`), from a loaded checkpoint or a bare state dict.

    Key-based rules of docs/method.md §6.7, then, for the timm-style family, the position table: SiameseIM and
    MoCo-v3 store a row-first sin-cos table, MAE a column-first one; fine-tuned SiameseIM/MAE models have
    ``fc_norm`` and no ``norm``.
    """
    if is_suite_checkpoint(checkpoint):
        return SUITE_FORMAT
    state_dict, container = unwrap(checkpoint)
    keys = list(state_dict)
    if not _looks_like_vit(keys):
        raise CheckpointError(f'not a ViT checkpoint (no patch_embed and blocks keys; found e.g. '
                              f'{", ".join(keys[:4])}): supported are SiameseIM, MAE, MoCo-v3, BEiT, DeiT/timm, '
                              f'mmpretrain/mmseg and this suite\'s own checkpoints')

    def has(pattern: str) -> bool:
        return any(re.search(pattern, key) for key in keys)

    if has(r'^encoder\.(blocks|patch_embed)\.'):
        return 'siameseim-suite-pretrain'
    if has(r'^backbone\.'):
        inner = [key[len('backbone.'):] for key in keys if key.startswith('backbone.')]
        if any(_MM_LAYER.match(key) for key in inner):
            return 'mmseg' if any(_MMSEG_ONLY.search(key) for key in inner) else 'mmpretrain'
        return 'siameseim-suite-downstream'
    if has(_MM_LAYER.pattern):
        return 'mmseg' if has(_MMSEG_ONLY.pattern) else 'mmpretrain'
    if has(r'^(base_encoder|momentum_encoder)\.'):
        return 'moco-v3'
    if has(r'^(mm_blocks|predictor_decoder_blocks)\.'):
        return 'siameseim-pretrain'
    if has(r'\.attn\.q_bias$|^rel_pos_bias\.'):
        return 'beit'
    if has(r'^decoder_blocks\.'):
        return 'mae-full'
    if 'dist_token' in state_dict:
        return 'deit-distilled'
    convention = None
    if 'pos_embed' in state_dict:
        convention = sincos_convention(state_dict['pos_embed'], *pos_embed_layout(state_dict))
    if 'fc_norm.weight' in state_dict and 'norm.weight' not in state_dict:
        return 'siameseim-finetune' if convention == 'row_first' else 'mae-finetune'
    if convention == 'col_first':
        return 'mae'
    if convention == 'row_first':
        return 'moco-v3' if 'norm.weight' in state_dict else 'siameseim-pretrain'
    return 'deit' if container == 'model' else 'timm'


__all__ = ['detect_format']
