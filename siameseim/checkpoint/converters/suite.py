"""Checkpoints of this suite's own runs: pretraining (``encoder.*``) and downstream mmengine runs (``backbone.*``)."""
from typing import Dict

import torch

from ..errors import CheckpointError
from ..formats import strip_backbone_prefix


def from_suite_pretrain(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str],
                        use_target_encoder: bool) -> Dict[str, torch.Tensor]:
    """The encoder of this suite's pretraining runs (``encoder.*``, or ``target_encoder.*`` for the EMA copy)."""
    prefix = 'target_encoder.' if use_target_encoder else 'encoder.'
    if not any(key.startswith(prefix) for key in state_dict):
        raise CheckpointError(f'pretraining checkpoint has no {prefix}* keys: this run has no target encoder '
                              f'(MAE); drop --target-encoder')
    encoder = {}
    for key, value in state_dict.items():
        if key.startswith(prefix):
            encoder[key[len(prefix):]] = value
        elif key.startswith(('encoder.', 'target_encoder.')):
            dropped[key] = 'the other encoder of the pretraining run (online vs target)'
        else:
            dropped[key] = 'pretraining decoder / projector / predictor / loss'
    return encoder


def from_suite_downstream(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str],
                          use_target_encoder: bool = False) -> Dict[str, torch.Tensor]:
    """The backbone of a detection / segmentation / classification run (``backbone.*`` without the prefix)."""
    return strip_backbone_prefix(state_dict, dropped)


__all__ = ['from_suite_pretrain', 'from_suite_downstream']
