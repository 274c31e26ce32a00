"""CLIP image towers (OpenAI CLIP and OpenCLIP) onto the canonical backbone.

Key layout read from ``openai/CLIP`` ``clip/model.py`` ``VisionTransformer`` (``visual.conv1`` without bias,
``visual.class_embedding [D]``, ``visual.positional_embedding [1 + N, D]``, ``visual.ln_pre``,
``visual.transformer.resblocks.i.{ln_1, attn.in_proj_weight/bias, attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}``,
``visual.ln_post``, ``visual.proj [D, E]``; ``QuickGELU``) and ``mlfoundations/open_clip``
``src/open_clip/transformer.py`` (the same names, ``nn.GELU``, optional ``ls_1`` / ``ls_2`` LayerScale; models with
a timm tower keep timm's names under ``visual.trunk.``). The text tower (``token_embedding``, ``transformer.*``,
``ln_final``, ``text_projection``) and ``logit_scale`` are dropped. The renames are timm's
``_convert_openai_clip`` (the converter of timm's ``checkpoint_filter_fn``); the image-text projection it turns
into a classifier is dropped here instead, since it is not one.
"""
from typing import Dict

import torch
from timm.models.vision_transformer import _convert_openai_clip

from ..errors import CheckpointError
from ..formats import drop_reason, rename_keys

_LAYER_SCALE = ((r'\.ls_([12])\.gamma$', r'.ls\1.gamma'), )


def from_clip(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str],
              use_target_encoder: bool = False) -> Dict[str, torch.Tensor]:
    """The ``visual.`` tower in canonical names; every other key (text tower, temperature) is dropped."""
    if not any(key.startswith('visual.') for key in state_dict):
        raise CheckpointError('CLIP checkpoint holds only the text tower (token_embedding, transformer.*, no '
                              'visual.* keys): give the full CLIP model or its image tower')
    for key in state_dict:
        if not key.startswith('visual.') or key in ('visual.proj', ) or key.startswith('visual.head.'):
            dropped[key] = drop_reason(key)
    if any(key.startswith('visual.trunk.') for key in state_dict):
        tower = {key[len('visual.trunk.'):]: value for key, value in state_dict.items()
                 if key.startswith('visual.trunk.')}
        for key in state_dict:
            if key.startswith('visual.') and not key.startswith(('visual.trunk.', 'visual.head.')):
                dropped[key] = drop_reason(key)
        return tower
    tower = {key: value for key, value in state_dict.items() if key.startswith('visual.') and key != 'visual.proj'}
    return rename_keys(_convert_openai_clip(tower, None), _LAYER_SCALE)  # keys under its default 'visual.'


__all__ = ['from_clip']
