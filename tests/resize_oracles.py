"""Independent oracles for resizing position tables, written from their definitions for the tests.

- :func:`bicubic_resize`: PyTorch's ``interpolate(mode='bicubic', align_corners=False)`` spelled out — the
  source coordinate ``(i + ½)·in/out − ½`` (not clamped), Keys' cubic convolution with ``A = −0.75`` over the
  four taps around it, taps beyond the border clamped to the edge, rows then columns.
- :func:`beit_resize`: BEiT's relative-position-bias resize — the source offsets placed at geometric
  positions (:func:`geometric_nodes`, the ratio solved exactly) and the interpolating cubic
  spline that ``interp2d(kind='cubic')`` fits through them (not-a-knot), built one axis at a time with SciPy's
  ``CubicSpline`` and evaluated at the integer target offsets.
"""
import math
from typing import Sequence

import numpy as np
import torch

A = -0.75


def _cubic_weights(t: float) -> Sequence[float]:
    """Weights of the taps at offsets −1, 0, 1, 2 for a fractional position ``t`` in [0, 1)."""
    def near(x):  # |x| <= 1
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A

    return far(t + 1), near(t), near(1 - t), far(2 - t)


def _resize_axis(values: np.ndarray, size: int, axis: int) -> np.ndarray:
    values = np.moveaxis(values, axis, 0)
    length = values.shape[0]
    out = np.zeros((size, *values.shape[1:]))
    for i in range(size):
        x = (i + 0.5) * length / size - 0.5
        base = math.floor(x)
        for offset, weight in zip((-1, 0, 1, 2), _cubic_weights(x - base)):
            out[i] += weight * values[min(max(base + offset, 0), length - 1)]
    return np.moveaxis(out, 0, axis)


def bicubic_resize(patches: torch.Tensor, src_grid: Sequence[int], dst_grid: Sequence[int]) -> torch.Tensor:
    """``[1, gh·gw, D]`` patch positions resized to ``dst_grid`` (fp64 arithmetic, the input's dtype back)."""
    grid = patches.detach().double().numpy().reshape(*src_grid, -1)
    grid = _resize_axis(_resize_axis(grid, dst_grid[0], 0), dst_grid[1], 1)
    return torch.from_numpy(grid.reshape(1, -1, grid.shape[-1])).to(patches.dtype)


def geometric_nodes(src_size: int, dst_size: int) -> np.ndarray:
    """Positions of the ``src_size`` source offsets on the target's offset axis: ``±(1 + q + … + q^(k−1))``
    with the ratio ``q`` solved exactly (a polynomial root) so that the outermost lands on ``dst_size // 2``.
    BEiT bisects for ``q`` inside [1.01, 1.5]; a target no larger than the source keeps unit spacing (a crop).
    """
    half, total = src_size // 2, dst_size // 2
    if total <= half:
        return np.arange(-half, half + 1, dtype=np.float64)
    # 1 + q + … + q^(half−1) = total has exactly one positive root (one sign change), and it exceeds 1
    roots = np.roots([1.0] * (half - 1) + [1.0 - total])
    ratio = max(root.real for root in roots if abs(root.imag) < 1e-9 and root.real > 0)
    distances = np.cumsum(ratio ** np.arange(half, dtype=np.float64))
    return np.concatenate([-distances[::-1], [0.0], distances])


def beit_resize(table: torch.Tensor, src_grid: Sequence[int], dst_grid: Sequence[int],
                num_extra: int = 3) -> torch.Tensor:
    """``[(2gh−1)(2gw−1) + num_extra, heads]`` resized to ``dst_grid``; the extra (cls) rows are kept."""
    from scipy.interpolate import CubicSpline

    src = [2 * g - 1 for g in src_grid]
    dst = [2 * g - 1 for g in dst_grid]
    offsets = table[:table.shape[0] - num_extra].detach().double().numpy().reshape(src[0], src[1], -1)
    for axis in (0, 1):
        targets = np.arange(-(dst[axis] // 2), dst[axis] // 2 + 1, dtype=np.float64)
        offsets = CubicSpline(geometric_nodes(src[axis], dst[axis]), offsets, axis=axis, bc_type='not-a-knot')(targets)
    resized = torch.from_numpy(offsets.reshape(-1, table.shape[1])).to(table.dtype)
    return torch.cat([resized, table[table.shape[0] - num_extra:]])
