"""UniGrad loss of SiameseIM (docs/method.md §2).

``loss = (pos + λ·neg) / D`` over the flattened ``[N, D]`` tokens of prediction ``P`` and target ``T``, with
``pos`` the mean squared L2 distance between matching tokens and ``neg = mean_n pₙᵀ C pₙ``, where
``C = TᵀT / N`` is the target's uncentred second moment averaged over ranks. ``neg`` is evaluated in the
``O(N·D²)`` row-wise form ``((P C) ⊙ P).sum() / N``: the official diagonal of the ``N×N`` matrix ``P C Pᵀ``
gives the same value at ``O(N²·D)`` cost and ``N²`` memory (docs/method.md §7 row 1).
"""
from typing import Dict, Tuple, Union

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

# LayerNorm eps of the official teacher_norm / student_norm.
LN_EPS = 1e-5


def _world_size() -> int:
    """Ranks sharing ``C``; 1 without an initialised process group (docs/method.md §7 row 10)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


@torch.no_grad()
def target_second_moment(target: torch.Tensor) -> torch.Tensor:
    """``C = TᵀT / N`` in fp32 for target tokens ``[..., D]``, averaged over ranks: ``[D, D]``, no gradient.

    With equal token counts per rank this is the second moment of the global batch.
    """
    with torch.autocast(device_type=target.device.type, enabled=False):
        tokens = target.reshape(-1, target.shape[-1]).float()
        moment = tokens.T @ tokens / tokens.shape[0]
        world_size = _world_size()
        if world_size > 1:
            dist.all_reduce(moment)
            moment /= world_size
    return moment


def unigrad_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    neg_weight: float = 0.02,
    return_terms: bool = False,
) -> Union[torch.Tensor, Tuple[torch.Tensor, Dict[str, torch.Tensor]]]:
    """UniGrad loss of ``pred`` against ``target`` (both ``[B, N, D]`` or ``[N, D]``), without norms.

    Computed in fp32 with autocast disabled; the target is detached. With ``return_terms`` also returns
    the detached ``pos`` and ``neg`` terms for logging (their names lack ``'loss'``, so mmengine's
    ``parse_losses`` logs them without adding them to the loss).
    """
    if pred.shape != target.shape:
        raise ValueError(f'pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}')
    with torch.autocast(device_type=pred.device.type, enabled=False):
        pred = pred.reshape(-1, pred.shape[-1]).float()
        target = target.detach().reshape(-1, target.shape[-1]).float()
        num_tokens, dim = pred.shape
        pos = (pred - target).square().sum() / num_tokens
        neg = ((pred @ target_second_moment(target)) * pred).sum() / num_tokens
        loss = (pos + neg_weight * neg) / dim
    if return_terms:
        return loss, dict(pos=pos.detach(), neg=neg.detach())
    return loss


class UniGradLoss(nn.Module):
    """UniGrad loss with the official norms: ``teacher_norm`` on the target, ``student_norm`` on the prediction.

    Both norms are LayerNorms over ``D`` with eps 1e-5 and no (or frozen identity) affine, so the module has
    no parameters or buffers.

    Args:
        neg_weight: ``λ``, weight of the negative (second-moment) term.
        online_ln: normalise the prediction as well (``--online_ln``); identity otherwise.
    """

    def __init__(self, neg_weight: float = 0.02, online_ln: bool = False) -> None:
        super().__init__()
        self.neg_weight = neg_weight
        self.online_ln = online_ln

    @staticmethod
    def teacher_norm(target: torch.Tensor) -> torch.Tensor:
        """LayerNorm over the last dimension in fp32, no affine, eps 1e-5."""
        return F.layer_norm(target.float(), target.shape[-1:], eps=LN_EPS)

    def student_norm(self, pred: torch.Tensor) -> torch.Tensor:
        """``teacher_norm`` with ``online_ln`` (the official affine is frozen at (1, 0)), identity otherwise."""
        return self.teacher_norm(pred) if self.online_ln else pred

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        return_terms: bool = False,
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, Dict[str, torch.Tensor]]]:
        """See :func:`unigrad_loss`; the norms run in fp32 as well."""
        with torch.autocast(device_type=pred.device.type, enabled=False):
            return unigrad_loss(
                self.student_norm(pred), self.teacher_norm(target.detach()), self.neg_weight, return_terms)

    def extra_repr(self) -> str:
        return f'neg_weight={self.neg_weight}, online_ln={self.online_ln}'
