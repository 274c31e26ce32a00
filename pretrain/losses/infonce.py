"""MoCo-v3's contrastive (InfoNCE) loss: symmetrised over the two crops, scaled by ``2·τ``.

For queries ``q`` (online predictor outputs of one crop) and keys ``k`` (momentum projector outputs of the
other crop), both L2-normalised, the keys of every rank are gathered; the logits are ``q·kᵀ / τ`` and the
positive of query ``n`` on rank ``r`` is key ``r·N + n``. The cross entropy is multiplied by ``2·τ``, as the
official code does (it keeps the gradient scale independent of ``τ``), and the loss of a two-crop step is
``ctr(q₁, k₂) + ctr(q₂, k₁)``.
"""
from typing import Tuple

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F


def _rank_and_world() -> Tuple[int, int]:
    """``(rank, world size)``; ``(0, 1)`` without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@torch.no_grad()
def gather_keys(keys: torch.Tensor) -> torch.Tensor:
    """Keys of all ranks concatenated in rank order (no gradient, as the official ``concat_all_gather``)."""
    _, world_size = _rank_and_world()
    if world_size == 1:
        return keys
    gathered = [torch.empty_like(keys) for _ in range(world_size)]
    dist.all_gather(gathered, keys.contiguous())
    return torch.cat(gathered)


def infonce_loss(query: torch.Tensor, key: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """``2τ · CE(q̂·k̂ᵀ/τ, positives)`` for ``[N, D]`` queries and this rank's ``[N, D]`` keys, in fp32."""
    if query.shape != key.shape or query.dim() != 2:
        raise ValueError(f'query and key must be [N, D] of one shape, got {tuple(query.shape)} and {tuple(key.shape)}')
    with torch.autocast(device_type=query.device.type, enabled=False):
        query = F.normalize(query.float(), dim=1)
        key = F.normalize(gather_keys(key.detach().float()), dim=1)
        logits = query @ key.T / temperature
        rank, _ = _rank_and_world()
        labels = torch.arange(query.shape[0], device=query.device) + query.shape[0] * rank
        return F.cross_entropy(logits, labels) * (2 * temperature)


class InfoNCELoss(nn.Module):
    """Symmetrised two-crop InfoNCE of MoCo-v3.

    Args:
        temperature: ``τ`` (0.2 for the ViT recipes).
    """

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be positive, got {temperature}')
        self.temperature = temperature

    def forward(self, query1: torch.Tensor, query2: torch.Tensor, key1: torch.Tensor,
                key2: torch.Tensor) -> torch.Tensor:
        """``ctr(q₁, k₂) + ctr(q₂, k₁)``: each crop's queries against the other crop's keys."""
        return (infonce_loss(query1, key2, self.temperature) + infonce_loss(query2, key1, self.temperature))

    def extra_repr(self) -> str:
        return f'temperature={self.temperature}'
