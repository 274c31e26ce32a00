"""MoCo-v3 checkpoints (``facebookresearch/moco-v3``): the base encoder or the momentum encoder."""
from typing import Dict

import torch

from ..errors import CheckpointError
from ..formats import drop_reason


def from_moco(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str],
              use_target_encoder: bool) -> Dict[str, torch.Tensor]:
    """``base_encoder.*`` (or ``momentum_encoder.*``) without the projection MLP ``head.*`` (docs/method.md §6.4).

    A checkpoint already holding only the base encoder (timm names) passes through unchanged.
    """
    if not any(key.startswith(('base_encoder.', 'momentum_encoder.')) for key in state_dict):
        if use_target_encoder:
            raise CheckpointError('this MoCo-v3 checkpoint holds only the base encoder: drop --target-encoder')
        return state_dict
    prefix = 'momentum_encoder.' if use_target_encoder else 'base_encoder.'
    encoder = {}
    for key, value in state_dict.items():
        if key.startswith(prefix) and not key.startswith(prefix + 'head.'):
            encoder[key[len(prefix):]] = value
        else:
            dropped[key] = drop_reason(key[len(prefix):] if key.startswith(prefix) else key)
    if not encoder:
        raise CheckpointError(f'MoCo-v3 checkpoint has no {prefix}* keys')
    return encoder


__all__ = ['from_moco']
