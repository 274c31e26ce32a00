"""Feature L2 loss of the ablation (docs/ablation.md): UniGrad's positive term alone.

``loss = (1/N) Σₙ ‖pₙ − tₙ‖² / D`` over the flattened ``[N, D]`` tokens, with the same norms as
:class:`~siameseim.pretrain.losses.UniGradLoss` (LayerNorm without affine on the target, optional on the prediction), so
the L2 and UniGrad rows of the ablation differ by exactly the negative (second-moment) term: this is UniGrad
with ``λ = 0``, computed without the ``D×D`` moment and its all-reduce.
"""
import torch
import torch.nn as nn

from .unigrad import UniGradLoss


class FeatureL2Loss(nn.Module):
    """Mean squared distance per channel between prediction and LayerNorm-ed target tokens.

    Args:
        online_ln: LayerNorm the prediction as well (as UniGrad's ``online_ln``).
    """

    def __init__(self, online_ln: bool = False) -> None:
        super().__init__()
        self.online_ln = online_ln

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of ``pred`` against ``target`` (``[B, N, D]`` or ``[N, D]``), fp32, target detached."""
        if pred.shape != target.shape:
            raise ValueError(f'pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}')
        with torch.autocast(device_type=pred.device.type, enabled=False):
            pred = UniGradLoss.teacher_norm(pred) if self.online_ln else pred.float()
            target = UniGradLoss.teacher_norm(target.detach())
            pred = pred.reshape(-1, pred.shape[-1])
            target = target.reshape(-1, target.shape[-1])
            return (pred - target).square().sum() / (pred.shape[0] * pred.shape[1])

    def extra_repr(self) -> str:
        return f'online_ln={self.online_ln}'
