"""Sin-cos position embedding of the view-2 queries, expressed in view 1's patch grid (docs/method.md §1.5).

The predictor asks for every patch of view 2; each query is placed at that patch's centre mapped into view
1's patch-grid coordinates ``(u, v)``, plus two terms for the relative scale ``(10·ln δh, 10·ln δw)``. The
first half of the embedding is thus the absolute table of ``siameseim.layers.pos_embed`` evaluated at a
continuous position, which is what the visible view-1 tokens carry.
"""
from typing import Optional, Tuple

import torch

from siameseim.layers.pos_embed import sincos_1d


def relative_query_coords(relpos: torch.Tensor,
                          grid: int = 14) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """View-1 grid coordinates ``u [B, g]`` (rows), ``v [B, g]`` (columns) of view 2's patch centres, and the
    scale terms ``s_h, s_w [B]``, in ``relpos``'s dtype.

    ``relpos`` is ``[B, 6] = (δi, δj, δh, δw, f, δj_flip)``
    (``siameseim.pretrain.data.transforms.relative_position``).
    The ``∓½`` shifts map patch centres back to the integer-index convention of the absolute table, so identical
    views give ``u = r``, ``v = c``. When exactly one view is flipped (``f = 1``) columns run backwards from
    ``δj_flip``. Values may lie outside ``[0, g)`` when the views do not overlap.
    """
    if relpos.ndim != 2 or relpos.shape[1] != 6:
        raise ValueError(f'relpos must be [B, 6] = (δi, δj, δh, δw, f, δj_flip), got shape {tuple(relpos.shape)}')
    d_i, d_j, d_h, d_w, flip, d_j_flip = relpos.unbind(1)
    centres = torch.arange(grid, dtype=relpos.dtype, device=relpos.device) + 0.5
    u = d_h[:, None] * centres + grid * d_i[:, None] - 0.5
    v_same = d_w[:, None] * centres + grid * d_j[:, None] - 0.5
    v_flip = -d_w[:, None] * centres + grid * d_j_flip[:, None] - 0.5
    v = torch.where(flip[:, None] > 0.5, v_flip, v_same)
    return u, v, 10 * d_h.log(), 10 * d_w.log()


@torch.no_grad()
def relative_query_pos_embed(relpos: torch.Tensor,
                             grid: int = 14,
                             dim: int = 768,
                             device: Optional[torch.device] = None) -> torch.Tensor:
    """Query embeddings ``[B, grid², 2·dim]`` (fp32, raster order of view 2, no gradient).

    Eight blocks of ``dim/4`` channels: ``sin, cos`` of ``u·ω``, ``v·ω``, ``s_h·ω``, ``s_w·ω`` with
    ``ω_k = 10000^(−k/(dim/4))``. All six tuple fields are first moved to ``device`` (default: ``relpos``'s)
    as fp32 — the official code leaves the flip flag on the CPU (docs/method.md §7 row 5) — and the positions are
    computed from that fp32 tuple, as in the official code; sin/cos go through the shared ``sincos_1d``.
    """
    if dim % 4:
        raise ValueError(f'relative query embedding width must be divisible by 4, got {dim}')
    relpos = relpos.to(device=device, dtype=torch.float32)
    u, v, s_h, s_w = relative_query_coords(relpos, grid)
    batch, half = relpos.shape[0], dim // 2
    rows = sincos_1d(u, half)[:, :, None].expand(batch, grid, grid, half)
    cols = sincos_1d(v, half)[:, None, :].expand(batch, grid, grid, half)
    scales = sincos_1d(torch.stack([s_h, s_w], 1), half).reshape(batch, 1, 1, dim).expand(batch, grid, grid, dim)
    return torch.cat([rows, cols, scales], -1).reshape(batch, grid * grid, 2 * dim).float()
