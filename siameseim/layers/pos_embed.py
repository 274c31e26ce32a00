"""Absolute position embeddings: fixed 2-D sin-cos tables and resizing of stored tables.

Two sin-cos conventions exist for the same frequencies (docs/method.md §1.2): SiameseIM and MoCo-v3 put the row
coordinate first, MAE the column coordinate. A loaded checkpoint's table is therefore always copied, never
regenerated; these functions build tables for fresh models and resize stored ones:
:func:`resize_patch_positions` resizes the patch rows and passes the prefix rows through (the backbone, at every
input size); :func:`resize_pos_embed_and_prefix` also changes the number of prefix rows (loading a checkpoint
whose cls / distillation tokens differ from the model's).
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F


def sincos_1d(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """``[sin(p·ω), cos(p·ω)]`` with ``ω_k = 10000^(-k/(dim/2))``; ``positions`` of any shape -> ``[..., dim]``."""
    if dim % 2:
        raise ValueError(f'sin-cos embedding width must be even, got {dim}')
    omega = torch.arange(dim // 2, dtype=torch.float64, device=positions.device) / (dim // 2)
    omega = 1.0 / 10000**omega
    angles = positions.to(torch.float64)[..., None] * omega
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def sincos_2d(embed_dim: int,
              grid: Tuple[int, int],
              num_prefix_tokens: int = 0,
              row_first: bool = True) -> torch.Tensor:
    """Fixed 2-D sin-cos table ``[1, num_prefix_tokens + gh*gw, embed_dim]`` (fp32), prefix rows zero.

    Token ``t = r·gw + c`` gets ``[φ(r), φ(c)]`` (``row_first``, SiameseIM/MoCo-v3) or ``[φ(c), φ(r)]`` (MAE).
    """
    if embed_dim % 4:
        raise ValueError(f'2-D sin-cos embedding width must be divisible by 4, got {embed_dim}')
    rows, cols = torch.meshgrid(torch.arange(grid[0]), torch.arange(grid[1]), indexing='ij')
    emb_r = sincos_1d(rows.flatten(), embed_dim // 2)
    emb_c = sincos_1d(cols.flatten(), embed_dim // 2)
    table = torch.cat([emb_r, emb_c] if row_first else [emb_c, emb_r], dim=1)
    table = torch.cat([table.new_zeros(num_prefix_tokens, embed_dim), table], dim=0)
    return table.float()[None]


def resize_patch_positions(pos_embed: torch.Tensor,
                           src_grid: Tuple[int, int],
                           dst_grid: Tuple[int, int],
                           num_prefix_tokens: int = 0) -> torch.Tensor:
    """Bicubically resize the patch part of ``[1, prefix + src_h*src_w, D]`` to ``dst_grid``.

    The first ``num_prefix_tokens`` rows (cls, distillation) are kept as they are. Interpolation runs in
    fp32 (``align_corners=False``, as MAE, ViTDet and mmseg do) and the result has the input's dtype.
    """
    src_grid, dst_grid = tuple(src_grid), tuple(dst_grid)
    prefix, patches = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    if patches.shape[1] != src_grid[0] * src_grid[1]:
        raise ValueError(f'position embedding has {patches.shape[1]} patch rows, '
                         f'which does not match a {src_grid[0]}x{src_grid[1]} grid')
    if src_grid == dst_grid:
        return pos_embed
    dim = patches.shape[-1]
    grid_map = patches.reshape(1, *src_grid, dim).permute(0, 3, 1, 2).float()
    grid_map = F.interpolate(grid_map, size=dst_grid, mode='bicubic', align_corners=False)
    patches = grid_map.permute(0, 2, 3, 1).reshape(1, dst_grid[0] * dst_grid[1], dim).to(pos_embed.dtype)
    return torch.cat([prefix, patches], dim=1)


def resize_pos_embed_and_prefix(pos_embed: torch.Tensor,
                                src_grid: Sequence[int],
                                dst_grid: Sequence[int],
                                num_prefix_src: int = 1,
                                num_prefix_dst: Optional[int] = None) -> torch.Tensor:
    """Resize a stored ``[1, prefix + gh*gw, D]`` table to another grid and prefix count (docs/method.md §6.7 rule 4).

    The patch part is resized as by :func:`resize_patch_positions`; prefix rows are copied. With fewer target
    prefix rows the first ones are kept: a distilled DeiT table (cls, dist) keeps cls, and a model without cls
    token (ViTDet) gets none. Missing prefix rows are zeros, the value of fixed sin-cos tables.
    """
    num_prefix_dst = num_prefix_src if num_prefix_dst is None else num_prefix_dst
    prefix, patches = pos_embed[:, :num_prefix_src], pos_embed[:, num_prefix_src:]
    patches = resize_patch_positions(patches, tuple(src_grid), tuple(dst_grid))
    if num_prefix_dst <= num_prefix_src:
        prefix = prefix[:, :num_prefix_dst]
    else:
        padding = prefix.new_zeros(1, num_prefix_dst - num_prefix_src, prefix.shape[-1])
        prefix = torch.cat([prefix, padding], dim=1)
    return torch.cat([prefix, patches], dim=1)
