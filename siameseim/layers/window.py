"""Non-overlapping window partition for ViTDet-style window attention."""
from typing import Tuple

import torch
import torch.nn.functional as F


def window_partition(x: torch.Tensor, grid: Tuple[int, int],
                     window_size: int) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Split ``[B, gh*gw, C]`` into ``[B·nW, window², C]`` windows, zero-padding bottom/right as ViTDet does.

    Padded tokens take part in attention as keys and values (no padding mask), exactly as in ViTDet.
    Returns the windows and the padded grid.
    """
    batch, _, dim = x.shape
    gh, gw = grid
    x = x.reshape(batch, gh, gw, dim)
    pad_h, pad_w = (-gh) % window_size, (-gw) % window_size
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    ph, pw = gh + pad_h, gw + pad_w
    x = x.reshape(batch, ph // window_size, window_size, pw // window_size, window_size, dim)
    windows = x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size * window_size, dim)
    return windows, (ph, pw)


def window_unpartition(windows: torch.Tensor, window_size: int, padded_grid: Tuple[int, int],
                       grid: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``[B·nW, window², C]`` back to ``[B, gh*gw, C]``."""
    ph, pw = padded_grid
    gh, gw = grid
    dim = windows.shape[-1]
    batch = windows.shape[0] // ((ph // window_size) * (pw // window_size))
    x = windows.reshape(batch, ph // window_size, pw // window_size, window_size, window_size, dim)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(batch, ph, pw, dim)
    return x[:, :gh, :gw].reshape(batch, gh * gw, dim)
