"""MAE's uniform random mask for the online view, as a data-pipeline generator (the ablation's ``mask='random'``).

MAE keeps the first ``L − M`` patches of a random permutation, i.e. a uniformly random subset of ``M`` masked
patches per sample; this draws the same distribution from the ``numpy.random.Generator`` the dataset passes in,
so it plugs in wherever :class:`~siameseim.pretrain.data.BlockMaskGenerator` does and is reproducible the same way.
"""
from typing import Optional, Tuple, Union

import numpy as np

from siameseim.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomMaskGenerator:
    """Draw ``[H, W]`` boolean masks (``True`` = masked) of exactly ``num_masking_patches`` uniform cells.

    Args:
        input_size: patch grid side, or ``(H, W)``.
        num_masking_patches: cells to mask (MAE's 75 %: 147 of 196).
    """

    def __init__(self, input_size: Union[int, Tuple[int, int]] = 14, num_masking_patches: int = 147) -> None:
        self.height, self.width = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        num_patches = self.height * self.width
        if not 0 <= num_masking_patches <= num_patches:
            raise ValueError(f'num_masking_patches must lie in [0, {num_patches}] for a '
                             f'{self.height}x{self.width} grid, got {num_masking_patches}')
        self.num_masking_patches = num_masking_patches

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(input_size=({self.height}, {self.width}), '
                f'num_masking_patches={self.num_masking_patches})')

    def __call__(self, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        """One mask ``[H, W]`` (bool). Pass a seeded generator for reproducible draws."""
        rng = np.random.default_rng() if rng is None else rng
        mask = np.zeros(self.height * self.width, dtype=bool)
        mask[rng.permutation(mask.size)[:self.num_masking_patches]] = True
        return mask.reshape(self.height, self.width)
