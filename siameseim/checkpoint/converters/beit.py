"""BEiT (``microsoft/unilm`` ``beit``) checkpoints onto the canonical backbone."""
import re
from typing import Dict

import torch


def from_beit(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str],
              use_target_encoder: bool = False) -> Dict[str, torch.Tensor]:
    """BEiT names → canonical (docs/method.md §6.5).

    The shared ``rel_pos_bias.relative_position_bias_table`` is copied into every block; ``q_bias``/``v_bias`` →
    ``qkv.bias`` with a zero key bias; ``gamma_1/2`` → ``ls1/2.gamma``. Index buffers, ``mask_token`` and
    ``lm_head`` are left for the backbone selection of :func:`~siameseim.checkpoint.to_canonical` to drop.
    """
    shared = state_dict.pop('rel_pos_bias.relative_position_bias_table', None)
    if shared is not None:
        depth = 1 + max(int(m.group(1)) for m in map(re.compile(r'^blocks\.(\d+)\.').match, state_dict) if m)
        for index in range(depth):
            state_dict.setdefault(f'blocks.{index}.attn.relative_position_bias_table', shared)
    merged = {}
    for key, value in state_dict.items():
        if key.endswith(('.attn.k_bias', '.attn.v_bias')):
            continue
        if key.endswith('.attn.q_bias'):
            prefix = key[:-len('q_bias')]
            k_bias = state_dict.get(prefix + 'k_bias', torch.zeros_like(value))
            merged[prefix + 'qkv.bias'] = torch.cat([value, k_bias, state_dict[prefix + 'v_bias']])
            continue
        merged[re.sub(r'\.gamma_([12])$', r'.ls\1.gamma', key)] = value
    return merged


__all__ = ['from_beit']
