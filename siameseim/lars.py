"""LARS, the optimizer of the linear-probe recipe (docs/method.md §5.2; MAE's ``util/lars.py``)."""
from typing import Callable, Iterable, Optional, Union

import torch

from .registry import OPTIMIZERS


@OPTIMIZERS.register_module()
class LARS(torch.optim.Optimizer):
    """SGD with momentum and a layer-wise trust ratio (You et al., 2017), as MAE's linear probe runs it.

    Per step, for each parameter ``p`` with gradient ``g``::

        if p.ndim > 1:                       # biases and norm/BN affines skip decay and trust scaling
            g = g + weight_decay * p
            q = trust_coefficient * ‖p‖ / ‖g‖ if ‖p‖ > 0 and ‖g‖ > 0 else 1
            g = q * g
        mu = momentum * mu + g               # mu starts at 0
        p  = p - lr * mu

    Registered as ``siameseim.LARS``; the linear probe uses ``lr=6.4`` (batch 16384), the other defaults here.
    """

    def __init__(self,
                 params: Union[Iterable[torch.Tensor], Iterable[dict]],
                 lr: float,
                 weight_decay: float = 0.0,
                 momentum: float = 0.9,
                 trust_coefficient: float = 0.001) -> None:
        if lr < 0:
            raise ValueError(f'LARS lr must be >= 0, got {lr}')
        if weight_decay < 0:
            raise ValueError(f'LARS weight_decay must be >= 0, got {weight_decay}')
        if not 0 <= momentum < 1:
            raise ValueError(f'LARS momentum must be in [0, 1), got {momentum}')
        if trust_coefficient <= 0:
            raise ValueError(f'LARS trust_coefficient must be > 0, got {trust_coefficient}')
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, trust_coefficient=trust_coefficient)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], torch.Tensor]] = None) -> Optional[torch.Tensor]:
        """One LARS update of every parameter that has a gradient; returns the closure's loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group['params']:
                if param.grad is None:
                    continue
                update = param.grad
                if param.ndim > 1:
                    update = update.add(param, alpha=group['weight_decay'])
                    param_norm = torch.linalg.vector_norm(param)
                    update_norm = torch.linalg.vector_norm(update)
                    trust_ratio = torch.where((param_norm > 0) & (update_norm > 0),
                                              group['trust_coefficient'] * param_norm / update_norm,
                                              torch.ones_like(param_norm))
                    update = update.mul(trust_ratio)
                state = self.state[param]
                if 'mu' not in state:
                    state['mu'] = torch.zeros_like(param)
                momentum_buffer = state['mu']
                momentum_buffer.mul_(group['momentum']).add_(update)
                param.add_(momentum_buffer, alpha=-group['lr'])
        return loss


__all__ = ['LARS']
