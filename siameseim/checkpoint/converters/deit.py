"""Distilled DeiT checkpoints: the distillation token's position row goes; plain DeiT needs no conversion."""
from typing import Dict

import torch

from ..formats import drop_reason


def from_deit_distilled(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str],
                        use_target_encoder: bool = False) -> Dict[str, torch.Tensor]:
    """Drop the distillation token's position row (row 1, after cls); the token and its head are dropped later."""
    if 'pos_embed' in state_dict:
        pos_embed = state_dict['pos_embed']
        state_dict['pos_embed'] = torch.cat([pos_embed[:, :1], pos_embed[:, 2:]], dim=1)
        dropped['pos_embed[1]'] = drop_reason('pos_embed[1]')
    return state_dict


__all__ = ['from_deit_distilled']
