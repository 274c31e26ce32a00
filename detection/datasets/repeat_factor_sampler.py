"""LVIS repeat-factor sampling with stochastic rounding (LVIS paper App. B.2, docs/protocols.md §2.2).

mmengine's ``ClassBalancedDataset`` repeats each image ``ceil(r)`` times, which over-samples (r = 1.2 gives 2
copies); detectron2 draws ``floor(r) + Bernoulli(r - floor(r))`` copies anew each epoch, as done here.
"""
import itertools
import math
from typing import Iterator, Optional, Sequence

import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmdet.registry import DATA_SAMPLERS
from torch.utils.data import Sampler


def repeat_factors(image_categories: Sequence[Sequence[int]], threshold: float) -> torch.Tensor:
    """Per-image repeat factor ``r(I) = max(1, max_c sqrt(t / f(c)))`` (1 for an image without annotations).

    ``f(c)`` is the fraction of the images (``len(image_categories)``) that contain category ``c``.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f'repeat threshold {threshold} must be in (0, 1]: LVIS uses 0.001')
    num_images = len(image_categories)
    counts = {}
    for categories in image_categories:
        for category in set(categories):
            counts[category] = counts.get(category, 0) + 1
    category_factor = {c: max(1.0, math.sqrt(threshold / (n / num_images))) for c, n in counts.items()}
    return torch.tensor([max((category_factor[c] for c in set(categories)), default=1.0)
                         for categories in image_categories], dtype=torch.float64)


@DATA_SAMPLERS.register_module()
class RepeatFactorSampler(Sampler):
    """Infinite, rank-sharded sampler repeating each image ``r(I)`` times on average per epoch.

    Every epoch draws the integer copies by stochastic rounding, shuffles them and deals them round-robin to
    the ranks (detectron2's ``RepeatFactorTrainingSampler``); use it with ``IterBasedTrainLoop``.

    Args:
        dataset: a dataset with ``get_cat_ids(idx)`` (every mmdet dataset).
        repeat_thr: the threshold ``t`` (0.001 for LVIS).
        shuffle: shuffle the copies of each epoch.
        seed: shared random seed; drawn and synchronised across ranks when None.
    """

    def __init__(self, dataset, repeat_thr: float = 0.001, shuffle: bool = True,
                 seed: Optional[int] = None) -> None:
        self.rank, self.world_size = get_dist_info()
        self.seed = sync_random_seed() if seed is None else seed
        self.shuffle = shuffle
        self.factors = repeat_factors([dataset.get_cat_ids(i) for i in range(len(dataset))], repeat_thr)
        self.size = len(dataset)

    def epoch_indices(self, generator: torch.Generator) -> torch.Tensor:
        """Dataset indices of one epoch: ``floor(r) + Bernoulli(frac(r))`` copies of each image."""
        whole = self.factors.floor()
        copies = whole + (torch.rand(len(self.factors), generator=generator, dtype=torch.float64)
                          < self.factors - whole)
        indices = torch.repeat_interleave(torch.arange(self.size), copies.long())
        if self.shuffle:
            indices = indices[torch.randperm(len(indices), generator=generator)]
        return indices

    def _infinite_indices(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed)
        while True:
            yield from self.epoch_indices(generator).tolist()

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(self._infinite_indices(), self.rank, None, self.world_size)

    def __len__(self) -> int:
        """Expected number of samples per rank and epoch."""
        return math.ceil(float(self.factors.sum()) / self.world_size)

    def set_epoch(self, epoch: int) -> None:
        """Kept for the runner's interface; the infinite stream already differs between epochs."""
