"""A sampler that tells the dataset which epoch an index belongs to, for resumable augmentation randomness."""
from typing import Iterator, Tuple

from mmengine.dataset import DefaultSampler

from siameseim.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class EpochIndexSampler(DefaultSampler):
    """:class:`~mmengine.dataset.DefaultSampler` yielding ``(epoch, index)`` pairs.

    With the pair, a dataset can seed each sample's augmentations from ``(seed, epoch, index)``: the
    randomness then no longer depends on worker count, worker persistence or process restarts, so a run
    resumed from a checkpoint sees exactly the crops, flips and masks the uninterrupted run would have seen.
    """

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        epoch = self.epoch
        for index in super().__iter__():
            yield epoch, index
