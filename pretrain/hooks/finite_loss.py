"""Stop a run at the first non-finite loss instead of training on NaNs (docs/method.md §3.4).

The checkpoint hook (:class:`siameseim.engine.SafeCheckpointHook`) guards the other side: it never writes weights
or optimizer state holding NaN/inf, so the last checkpoint stays a good point to resume from with a lower lr.
"""
import math
from typing import Optional

import torch
from mmengine.hooks import Hook

from siameseim.engine import RESUME_WITH_LOWER_LR
from siameseim.registry import HOOKS


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Raise ``FloatingPointError`` as soon as the training loss is NaN or infinite.

    The check reads the loss the logger reads anyway, so it adds no extra device synchronisation.
    """

    priority = 'VERY_LOW'

    def after_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or 'loss' not in outputs:
            return
        loss = outputs['loss']
        value = loss.item() if isinstance(loss, torch.Tensor) else float(loss)
        if not math.isfinite(value):
            raise FloatingPointError(
                f'loss is {value} at iteration {runner.iter + 1}: the run stopped; resume from the last '
                f'checkpoint with a lower lr ({RESUME_WITH_LOWER_LR}), bf16 instead of fp16, or a smaller '
                f'grad-clip norm')
