"""The momentum (EMA) branch shared by SiameseIM and MoCo-v3: which tensors it averages, and the update."""
from typing import Iterable, List, Tuple

import torch
import torch.nn as nn


def ema_parameter_pairs(module_pairs: Iterable[Tuple[nn.Module, nn.Module]]
                        ) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
    """(target, online) parameters of each (target module, online module) pair whose online side trains.

    Buffers (BN running statistics) are not averaged, and frozen parameters (a fixed patch projection or
    position table) are skipped: they stay identical in both branches.
    """
    targets, onlines = [], []
    for target_module, online_module in module_pairs:
        for target, online in zip(target_module.parameters(), online_module.parameters()):
            if online.requires_grad:
                targets.append(target)
                onlines.append(online)
    return targets, onlines


@torch.no_grad()
def lerp_towards_online(targets: List[torch.Tensor], onlines: List[torch.Tensor], momentum: float) -> None:
    """``θ_target ← m·θ_target + (1−m)·θ_online`` in one fused multi-tensor lerp (a no-op without targets)."""
    if targets:
        torch._foreach_lerp_(targets, onlines, 1.0 - momentum)
