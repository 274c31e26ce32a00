"""Block-wise mask generator for the online view (BEiT algorithm with SiameseIM's fixed-count top-up).

Rectangles of random area and aspect ratio are added until the budget is met or no rectangle fits; the
remaining cells are then masked uniformly at random so that every sample masks exactly the same number of
patches (docs/method.md §4.4), which lets the model gather the visible tokens as a dense ``[B, V]`` index.
Randomness comes only from the ``numpy.random.Generator`` passed in, never from global state, so the
dataset can seed it per worker and draws are reproducible.
"""
import math
from typing import Optional, Tuple, Union

import numpy as np

from siameseim.registry import TRANSFORMS

# Attempts to place one rectangle before giving up on the current budget (BEiT's constant).
_ATTEMPTS_PER_BLOCK = 10


@TRANSFORMS.register_module()
class BlockMaskGenerator:
    """Draw ``[H, W]`` boolean masks (``True`` = masked) made of random rectangles.

    Args:
        input_size: patch grid side, or ``(H, W)``.
        num_masking_patches: cells to mask (118 of 196 in the released SiameseIM config).
        min_num_patches: smallest target area of one rectangle.
        max_num_patches: largest target area of one rectangle; ``None`` means ``num_masking_patches``.
        min_aspect: smallest height/width ratio of a rectangle.
        max_aspect: largest ratio; ``None`` means ``1 / min_aspect``.
        fixed_num_masking_patches: top the rectangles up with uniformly random cells to exactly
            ``num_masking_patches`` (SiameseIM); ``False`` gives the plain BEiT masks.
    """

    def __init__(self,
                 input_size: Union[int, Tuple[int, int]] = 14,
                 num_masking_patches: int = 118,
                 min_num_patches: int = 16,
                 max_num_patches: Optional[int] = None,
                 min_aspect: float = 0.3,
                 max_aspect: Optional[float] = None,
                 fixed_num_masking_patches: bool = True) -> None:
        self.height, self.width = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        num_patches = self.height * self.width
        if not 0 <= num_masking_patches <= num_patches:
            raise ValueError(f'num_masking_patches must lie in [0, {num_patches}] for a '
                             f'{self.height}x{self.width} grid, got {num_masking_patches}')
        if min_num_patches < 1 or (max_num_patches is not None and max_num_patches < 1):
            raise ValueError(f'min_num_patches and max_num_patches must be >= 1, '
                             f'got {min_num_patches} and {max_num_patches}')
        if min_aspect <= 0:
            raise ValueError(f'min_aspect must be positive, got {min_aspect}')
        max_aspect = 1.0 / min_aspect if max_aspect is None else max_aspect
        if max_aspect < min_aspect:
            raise ValueError(f'need min_aspect <= max_aspect, got {min_aspect} and {max_aspect}')
        max_num_patches = num_masking_patches if max_num_patches is None else max_num_patches
        self.num_masking_patches = num_masking_patches
        self.min_num_patches = min_num_patches
        self.max_num_patches = max_num_patches
        self.log_aspect = (math.log(min_aspect), math.log(max_aspect))
        self.fixed_num_masking_patches = fixed_num_masking_patches

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(input_size=({self.height}, {self.width}), '
                f'num_masking_patches={self.num_masking_patches}, min_num_patches={self.min_num_patches}, '
                f'max_num_patches={self.max_num_patches}, '
                f'aspect=({math.exp(self.log_aspect[0]):.3g}, {math.exp(self.log_aspect[1]):.3g}), '
                f'fixed_num_masking_patches={self.fixed_num_masking_patches})')

    def _add_block(self, mask: np.ndarray, budget: int, rng: np.random.Generator) -> int:
        """Mask one rectangle adding between 1 and ``budget`` new cells; return how many it added (0: none fit)."""
        for _ in range(_ATTEMPTS_PER_BLOCK):
            # uniform between min_num_patches and budget, whichever is larger (random.uniform semantics)
            area = self.min_num_patches + (budget - self.min_num_patches) * rng.random()
            aspect = math.exp(rng.uniform(*self.log_aspect))
            h = int(round(math.sqrt(area * aspect)))
            w = int(round(math.sqrt(area / aspect)))
            if h < self.height and w < self.width:
                top = int(rng.integers(0, self.height - h + 1))
                left = int(rng.integers(0, self.width - w + 1))
                box = mask[top:top + h, left:left + w]
                added = h * w - int(box.sum())
                if 0 < added <= budget:
                    box[...] = True
                    return added
        return 0

    def __call__(self, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        """One mask ``[H, W]`` (bool). Pass a seeded generator for reproducible draws."""
        rng = np.random.default_rng() if rng is None else rng
        mask = np.zeros((self.height, self.width), dtype=bool)
        count = 0
        while count < self.num_masking_patches:
            added = self._add_block(mask, min(self.num_masking_patches - count, self.max_num_patches), rng)
            if added == 0:
                break
            count += added
        if self.fixed_num_masking_patches and count < self.num_masking_patches:
            free = np.flatnonzero(~mask)
            mask.flat[rng.choice(free, self.num_masking_patches - count, replace=False)] = True
        return mask
