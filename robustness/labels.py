"""ImageNet class tables shipped with the package: the 1000 wnids and the 200-class ImageNet-A/-R subsets.

Every dataset of the task maps folder names through :func:`imagenet_1k_index` (docs/protocols.md §6), never by
enumerating the folders on disk, so a 200-class or partial copy keeps the 1000-way label of each image.
"""
from functools import lru_cache
from importlib import resources
from typing import Dict, List, Tuple

import torch

SUBSETS = ('a', 'r')


def _read_wnids(name: str) -> Tuple[str, ...]:
    text = resources.files('siameseim.robustness').joinpath('data', name).read_text()
    return tuple(line.strip() for line in text.splitlines() if line.strip())


@lru_cache(maxsize=None)
def imagenet_1k_wnids() -> Tuple[str, ...]:
    """The 1000 ImageNet-1k wnids in class-index order (sorted; first ``n01440764``)."""
    return _read_wnids('imagenet_1k_wnids.txt')


@lru_cache(maxsize=None)
def imagenet_1k_index() -> Dict[str, int]:
    """wnid → ImageNet-1k class index."""
    return {wnid: index for index, wnid in enumerate(imagenet_1k_wnids())}


@lru_cache(maxsize=None)
def subset_wnids(subset: str) -> Tuple[str, ...]:
    """The 200 wnids of ImageNet-A (``'a'``) or ImageNet-R (``'r'``), in 1k order."""
    if subset not in SUBSETS:
        raise ValueError(f'unknown 200-class subset {subset!r}: use one of {SUBSETS}')
    return _read_wnids(f'imagenet_{subset}_wnids.txt')


def subset_indices(subset: str) -> List[int]:
    """ImageNet-1k indices of the 200 classes of ``subset``, ascending (timm's ``imagenet_{a,r}_indices``)."""
    index = imagenet_1k_index()
    return sorted(index[wnid] for wnid in subset_wnids(subset))


def restrict_logits(logits: torch.Tensor, indices: List[int]) -> torch.Tensor:
    """The columns of 1000-way ``logits [B, 1000]`` at ``indices``: ``[B, len(indices)]``."""
    if logits.shape[-1] != len(imagenet_1k_wnids()):
        raise ValueError(f'restricting to a class subset needs 1000-way logits, got {logits.shape[-1]} classes: '
                         f'evaluate an ImageNet-1k fine-tuned classifier')
    return logits[..., torch.as_tensor(indices, device=logits.device)]


def restricted_prediction(logits: torch.Tensor, indices: List[int]) -> torch.Tensor:
    """1k class index of the argmax among the ``indices`` columns (hendrycks' A/R protocol)."""
    position = restrict_logits(logits, indices).argmax(dim=-1)
    return torch.as_tensor(indices, device=logits.device)[position]
