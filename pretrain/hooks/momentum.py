"""Momentum (EMA) update of the target branch (SiameseIM, MoCo-v3), on a cosine schedule from the base momentum to 1."""
import math
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from siameseim.registry import HOOKS


def cosine_momentum(base_momentum: float, progress: float) -> float:
    """``m = 1 − ½(1 + cos(π·progress))(1 − base)``: ``base`` at progress 0, exactly 1 at progress 1."""
    return 1.0 - 0.5 * (1.0 + math.cos(math.pi * progress)) * (1.0 - base_momentum)


@HOOKS.register_module()
class MomentumUpdateHook(Hook):
    """Update the target branch before every training iteration (docs/method.md §3.3).

    Running before the forward with the weights of the previous optimizer step is exactly the official
    timing (update inside the forward, just before the target pass). Progress is the fractional epoch
    ``iter / max_iters`` of the whole schedule; ``schedule='const'`` keeps ``base_momentum``.
    """

    priority = 'NORMAL'

    def __init__(self, base_momentum: float = 0.995, schedule: str = 'cosine') -> None:
        if not 0.0 <= base_momentum <= 1.0:
            raise ValueError(f'base_momentum must lie in [0, 1], got {base_momentum}')
        if schedule not in ('cosine', 'const'):
            raise ValueError(f"momentum schedule must be 'cosine' or 'const', got {schedule!r}")
        self.base_momentum = base_momentum
        self.schedule = schedule

    def momentum_at(self, iteration: int, max_iters: int) -> float:
        if self.schedule == 'const':
            return self.base_momentum
        return cosine_momentum(self.base_momentum, iteration / max(max_iters, 1))

    def before_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        momentum = self.momentum_at(runner.iter, runner.max_iters)
        model.momentum_update(momentum)
        runner.message_hub.update_scalar('train/momentum', momentum)
