"""SiameseIM pretraining checkpoints (official code): the online encoder or the target (``mm_*``) encoder."""
from typing import Dict

import torch

from ..errors import CheckpointError
from ..formats import BACKBONE_KEY, drop_reason


def from_siameseim_pretrain(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str],
                            use_target_encoder: bool) -> Dict[str, torch.Tensor]:
    """Online encoder, or the target encoder (``mm_`` prefix stripped, shared ``pos_embed``), docs/method.md §6.1."""
    if not use_target_encoder:
        return state_dict
    if not any(key.startswith('mm_blocks.') for key in state_dict):
        raise CheckpointError('checkpoint has no target encoder (mm_blocks.* keys): load the online encoder '
                              '(use_target_encoder=False, no --target-encoder)')
    target = {}
    for key, value in state_dict.items():
        name = key[len('mm_'):] if key.startswith('mm_') else None
        if name is not None and BACKBONE_KEY.match(name):
            target[name] = value
        elif key == 'pos_embed':
            target[key] = value
        else:
            dropped[key] = ('SiameseIM online branch (target encoder requested)'
                            if BACKBONE_KEY.match(key) else drop_reason(key.removeprefix('mm_')))
    return target


__all__ = ['from_siameseim_pretrain']
