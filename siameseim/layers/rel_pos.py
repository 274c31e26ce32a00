"""Relative position terms of the attention logits.

* Decomposed relative positions (MViTv2 / ViTDet): per axis a table ``[2S-1, head_dim]``; the logit of
  query ``(qh, qw)`` and key ``(kh, kw)`` gains ``q·Rh[qh-kh+S-1] + q·Rw[qw-kw+S-1]``.
* BEiT relative position bias: one learned scalar per head for every 2-D offset, plus three entries for
  cls→patch, patch→cls and cls→cls when a cls token is present; :func:`resize_rel_pos_bias_table` resizes a
  stored table to another token grid as BEiT does.
"""
import math
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F


def resize_rel_pos(rel_pos: torch.Tensor, length: int) -> torch.Tensor:
    """Linearly resize a decomposed table ``[2S-1, C]`` to ``length`` rows (in fp32, as ViTDet does)."""
    if rel_pos.shape[0] == length:
        return rel_pos
    resized = F.interpolate(rel_pos.t()[None].float(), size=length, mode='linear')[0].t()
    return resized.to(rel_pos.dtype)


def rel_pos_for_size(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Gather ``[q_size, k_size, C]`` offsets from a decomposed table, resizing it linearly if needed."""
    rel_pos = resize_rel_pos(rel_pos, 2 * max(q_size, k_size) - 1)
    q_coords = torch.arange(q_size, device=rel_pos.device)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size, device=rel_pos.device)[None, :] * max(q_size / k_size, 1.0)
    offsets = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return rel_pos[offsets.long()]


def decomposed_rel_pos_terms(q: torch.Tensor, rel_pos_h: torch.Tensor, rel_pos_w: torch.Tensor,
                             grid: Tuple[int, int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per query, the row and column terms ``q·Rh[qh-kh]`` ``[B, heads, N, gh]`` and ``q·Rw[qw-kw]``
    ``[B, heads, N, gw]`` for unscaled ``q [B, heads, N, C]`` laid out on ``grid``."""
    batch, heads, num_tokens, dim = q.shape
    gh, gw = grid
    table_h = rel_pos_for_size(gh, gh, rel_pos_h).to(q.dtype)
    table_w = rel_pos_for_size(gw, gw, rel_pos_w).to(q.dtype)
    q_grid = q.reshape(batch, heads, gh, gw, dim)
    rel_h = torch.einsum('bnhwc,hkc->bnhwk', q_grid, table_h).reshape(batch, heads, num_tokens, gh)
    rel_w = torch.einsum('bnhwc,wkc->bnhwk', q_grid, table_w).reshape(batch, heads, num_tokens, gw)
    return rel_h, rel_w


def decomposed_rel_pos_bias(q: torch.Tensor, rel_pos_h: torch.Tensor, rel_pos_w: torch.Tensor,
                            grid: Tuple[int, int]) -> torch.Tensor:
    """Attention bias ``[B, heads, N, N]`` of decomposed relative positions for unscaled ``q [B, heads, N, C]``."""
    batch, heads, num_tokens, _ = q.shape
    rel_h, rel_w = decomposed_rel_pos_terms(q, rel_pos_h, rel_pos_w, grid)
    bias = rel_h[..., :, None] + rel_w[..., None, :]
    return bias.reshape(batch, heads, num_tokens, num_tokens)


def rel_pos_augmented_qk(q: torch.Tensor, k: torch.Tensor, rel_pos_h: torch.Tensor, rel_pos_w: torch.Tensor,
                         grid: Tuple[int, int], scale: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Queries and keys whose plain dot product is the decomposed-rel-pos logit, so no ``N×N`` bias exists.

    ``q'·k' = scale·q·k + rel_h[q, row(k)] + rel_w[q, col(k)]`` with ``q' = [scale·q, rel_h, rel_w]`` and
    ``k' = [k, onehot(row(k)), onehot(col(k))]``; attention then runs with scale 1 on fused kernels
    (the bias form needs a ``[B, heads, N, N]`` tensor and its gradient). The width is padded to a multiple
    of 8 for the fused kernels' alignment.
    """
    batch, heads, num_tokens, dim = q.shape
    gh, gw = grid
    rel_h, rel_w = decomposed_rel_pos_terms(q, rel_pos_h, rel_pos_w, grid)
    rows = torch.arange(num_tokens, device=q.device)
    onehot_h = F.one_hot(rows // gw, gh).to(q.dtype)
    onehot_w = F.one_hot(rows % gw, gw).to(q.dtype)
    padding = (-(dim + gh + gw)) % 8
    q_parts = [q * scale, rel_h, rel_w]
    k_parts = [k, onehot_h.expand(batch, heads, -1, -1), onehot_w.expand(batch, heads, -1, -1)]
    if padding:
        q_parts.append(q.new_zeros(batch, heads, num_tokens, padding))
        k_parts.append(k.new_zeros(batch, heads, num_tokens, padding))
    return torch.cat(q_parts, dim=-1), torch.cat(k_parts, dim=-1)


def num_relative_distances(grid: Tuple[int, int], num_prefix_tokens: int) -> int:
    """Rows of a BEiT relative position bias table for ``grid`` (three extra rows with a cls token)."""
    return (2 * grid[0] - 1) * (2 * grid[1] - 1) + (3 if num_prefix_tokens else 0)


def beit_relative_position_index(grid: Tuple[int, int], num_prefix_tokens: int) -> torch.Tensor:
    """Index ``[N, N]`` into a BEiT bias table: ``(Δr + gh-1)·(2gw-1) + (Δc + gw-1)``, then cls entries."""
    if num_prefix_tokens not in (0, 1):
        raise ValueError('relative position bias supports at most one prefix (cls) token')
    gh, gw = grid
    rows, cols = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing='ij')
    coords = torch.stack([rows.flatten(), cols.flatten()])
    offsets = coords[:, :, None] - coords[:, None, :]
    patch_index = (offsets[0] + gh - 1) * (2 * gw - 1) + (offsets[1] + gw - 1)
    if not num_prefix_tokens:
        return patch_index
    num_patch_offsets = (2 * gh - 1) * (2 * gw - 1)
    index = torch.zeros(gh * gw + 1, gh * gw + 1, dtype=torch.long)
    index[1:, 1:] = patch_index
    index[0, :] = num_patch_offsets
    index[:, 0] = num_patch_offsets + 1
    index[0, 0] = num_patch_offsets + 2
    return index


def rel_pos_bias_layout(table: torch.Tensor) -> Tuple[Optional[Tuple[int, int]], int]:
    """Token grid and extra (cls) rows of a square BEiT table: ``(2g-1)² + 3`` or ``(2g-1)²`` rows."""
    for extra in (3, 0):
        side = math.isqrt(max(table.shape[0] - extra, 0))
        if side * side == table.shape[0] - extra and side % 2:
            return ((side + 1) // 2, (side + 1) // 2), extra
    return None, 0


def _geometric_ratio(num_terms: int, total: float) -> float:
    """Ratio ``q ≥ 1`` with ``1 + q + … + q^(n-1) = total``, by bisection as BEiT does (tolerance 1e-6).

    BEiT searches in the fixed bracket [1.01, 1.5]; this searches [1, ∞), identical whenever BEiT's bracket
    contains the solution.
    """
    def series(q: float) -> float:
        return float(num_terms) if q == 1.0 else (q**num_terms - 1.0) / (q - 1.0)

    low, high = 1.0, 2.0
    while series(high) < total:
        high *= 2.0
    while high - low > 1e-6:
        middle = (low + high) / 2.0
        low, high = (low, middle) if series(middle) > total else (middle, high)
    return (low + high) / 2.0


def _offset_nodes(src_side: int, dst_side: int) -> np.ndarray:
    """Positions of the source table's offsets on the target's offset axis (BEiT's geometric spacing).

    Growing: the offsets ``±1 … ±n`` are placed at ``±(1 + q + … + q^(k-1))`` so that the outermost lands on the
    target's outermost offset; near offsets stay at unit spacing. Shrinking or equal: unit spacing, so evaluating
    at the target offsets reads the table's central offsets exactly (a crop; every needed offset exists).
    """
    half = src_side // 2
    if dst_side <= src_side:
        return np.arange(-half, half + 1, dtype=np.float64)
    ratio = _geometric_ratio(half, dst_side // 2)
    distances = np.cumsum(ratio**np.arange(half, dtype=np.float64))
    return np.concatenate([-distances[::-1], [0.0], distances])


def resize_rel_pos_bias_table(table: torch.Tensor,
                              src_grid: Sequence[int],
                              dst_grid: Sequence[int],
                              num_extra: int = 3,
                              dst_num_extra: Optional[int] = None) -> torch.Tensor:
    """Resize a BEiT relative position bias table ``[(2gh-1)(2gw-1) + extra, heads]`` to another token grid.

    BEiT's geometric-progression interpolation (``beit/semantic_segmentation``, ``run_class_finetuning.py``)
    without ``scipy.interpolate.interp2d`` (removed in SciPy 1.14): an interpolating bicubic spline
    (``RectBivariateSpline``, ``s=0`` — the spline ``interp2d(kind='cubic')`` fits on a grid) through the source
    offsets at geometric positions (:func:`_offset_nodes`), evaluated at the integer target offsets, per head and
    per axis (non-square grids work). The ``num_extra`` cls rows are kept, dropped when ``dst_num_extra`` is 0
    (target without cls token) or zero-padded when the target has cls rows the source lacks.
    """
    from scipy.interpolate import RectBivariateSpline

    dst_num_extra = num_extra if dst_num_extra is None else dst_num_extra
    src_sides = (2 * src_grid[0] - 1, 2 * src_grid[1] - 1)
    dst_sides = (2 * dst_grid[0] - 1, 2 * dst_grid[1] - 1)
    num_offsets, num_heads = src_sides[0] * src_sides[1], table.shape[1]
    if table.shape[0] != num_offsets + num_extra:
        raise ValueError(f'relative position bias table has {table.shape[0]} rows, expected {num_offsets} offsets '
                         f'of a {src_grid[0]}x{src_grid[1]} grid + {num_extra} extra')
    offsets, extra = table[:num_offsets], table[num_offsets:]
    if src_sides != dst_sides:
        row_nodes, col_nodes = (_offset_nodes(s, d) for s, d in zip(src_sides, dst_sides))
        row_targets, col_targets = (np.arange(-(d // 2), d // 2 + 1, dtype=np.float64) for d in dst_sides)
        values = offsets.detach().double().cpu().numpy().reshape(*src_sides, num_heads)
        resized = [
            RectBivariateSpline(row_nodes, col_nodes, values[..., head],
                                kx=min(3, src_sides[0] - 1), ky=min(3, src_sides[1] - 1), s=0)(row_targets, col_targets)
            for head in range(num_heads)
        ]
        offsets = torch.from_numpy(np.stack(resized, axis=-1).reshape(-1, num_heads)).to(table.dtype)
    if dst_num_extra <= num_extra:
        extra = extra[:dst_num_extra]
    else:
        extra = torch.cat([extra, extra.new_zeros(dst_num_extra - num_extra, num_heads)])
    return torch.cat([offsets, extra])
