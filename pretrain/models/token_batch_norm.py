"""Batch norm over the channels of token sequences, as the SiameseIM projector and predictor use it."""
import torch
import torch.nn as nn


class TokenBatchNorm(nn.Module):
    """BatchNorm1d over ``C`` with statistics pooled over batch × tokens, run in fp32.

    Equivalent to the official "PermuteBN" (``[B,N,C] → [B,C,N]`` → BN → back) without the permutes: the
    norm is applied to the ``[B·N, C]`` view (docs/method.md §1.4, §7 row 4). The state-dict names
    (``….bn.weight``, ``….bn.running_mean``) match the official checkpoints. ``SyncBatchNorm`` conversion
    reaches the inner ``bn``. ``affine=False`` gives the parameter-free BN that ends MoCo-v3's MLPs.
    """

    def __init__(self, dim: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(dim, eps=eps, momentum=momentum, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            out = self.bn(x.reshape(-1, x.shape[-1]).float())
        return out.reshape(x.shape).to(x.dtype)
