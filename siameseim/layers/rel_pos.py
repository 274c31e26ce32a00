"""Relative position terms of the attention logits.

* Decomposed relative positions (MViTv2 / ViTDet): per axis a table ``[2S-1, head_dim]``; the logit of
  query ``(qh, qw)`` and key ``(kh, kw)`` gains ``q·Rh[qh-kh+S-1] + q·Rw[qw-kw+S-1]``.
* BEiT relative position bias: one learned scalar per head for every 2-D offset, plus three entries for
  cls→patch, patch→cls and cls→cls when a cls token is present.
"""
from typing import Tuple

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
