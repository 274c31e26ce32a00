"""Hugging Face ``transformers`` vision models onto the canonical backbone: ``ViTModel``, ``ViTMAEModel``,
``Dinov2Model`` / ``Dinov2WithRegistersModel``, ``BeitModel`` and ``Data2VecVisionModel`` naming.

Names as ``transformers`` writes them with ``save_pretrained`` (``modeling_vit.py``, ``modeling_vit_mae.py``,
``modeling_dinov2.py``, ``modeling_dinov2_with_registers.py``, ``modeling_beit.py``,
``modeling_data2vec_vision.py``): ``embeddings.{cls_token, mask_token, register_tokens, position_embeddings,
patch_embeddings.projection}``, ``encoder.layer.i.{layernorm_before | norm1, attention.attention.{query, key,
value}, attention.output.dense, layernorm_after | norm2, intermediate.dense + output.dense | mlp.fc1 + mlp.fc2 |
mlp.weights_in + mlp.weights_out, layer_scale1.lambda1 | lambda_1, ...}``, ``layernorm``, ``pooler.*``; task
models prefix the base model (``vit.``, ``dinov2.``, ``beit.``, ``data2vec_vision.``). The separate query / key /
value projections are concatenated into ``qkv`` (a BEiT key has no bias: zeros). No timm converter exists for
these names. ``config.json`` (read beside the weights) gives heads, activation and LayerNorm epsilon.
"""
import re
from typing import Any, Dict, Mapping, Optional

import torch

from ..errors import CheckpointError
from ..formats import rename_keys
from .beit import from_beit

# model_type of config.json -> format name
MODEL_TYPES = {
    'vit': 'hf-vit',
    'vit_mae': 'hf-vit-mae',
    'dinov2': 'hf-dinov2',
    'dinov2_with_registers': 'hf-dinov2',
    'beit': 'hf-beit',
    'data2vec-vision': 'hf-data2vec-vision',
}
_BASE_PREFIX = re.compile(r'^(vit|dinov2|beit|data2vec_vision)\.')
# config.json hidden_act -> the backbone's act_layer
_ACTIVATIONS = {'gelu': 'gelu', 'gelu_new': 'gelu_tanh', 'gelu_pytorch_tanh': 'gelu_tanh', 'quick_gelu': 'quick_gelu'}
# defaults of each model type's config class, for weights without config.json
_DEFAULT_EPS = {'hf-vit': 1e-12, 'hf-vit-mae': 1e-12, 'hf-dinov2': 1e-6, 'hf-beit': 1e-12, 'hf-data2vec-vision': 1e-12}

_LAYER = r'^encoder\.layer\.(\d+)\.'
_RULES = (
    (r'^embeddings\.cls_token$', 'cls_token'),
    (r'^embeddings\.mask_token$', 'mask_token'),
    (r'^embeddings\.register_tokens$', 'reg_token'),
    (r'^embeddings\.position_embeddings$', 'pos_embed'),
    (r'^embeddings\.patch_embeddings\.projection\.', 'patch_embed.proj.'),
    (_LAYER + r'(layernorm_before|norm1)\.', r'blocks.\1.norm1.'),
    (_LAYER + r'(layernorm_after|norm2)\.', r'blocks.\1.norm2.'),
    (_LAYER + r'attention\.output\.dense\.', r'blocks.\1.attn.proj.'),
    (_LAYER + r'attention\.attention\.relative_position_bias\.', r'blocks.\1.attn.'),
    (_LAYER + r'attention\.attention\.(query|key|value)\.', r'blocks.\1.attn.\2.'),
    (_LAYER + r'(intermediate\.dense|mlp\.fc1|mlp\.weights_in)\.', r'blocks.\1.mlp.fc1.'),
    (_LAYER + r'(output\.dense|mlp\.fc2|mlp\.weights_out)\.', r'blocks.\1.mlp.fc2.'),
    (_LAYER + r'(layer_scale1\.lambda1|lambda_1)$', r'blocks.\1.ls1.gamma'),
    (_LAYER + r'(layer_scale2\.lambda1|lambda_2)$', r'blocks.\1.ls2.gamma'),
    (r'^encoder\.relative_position_bias\.', 'rel_pos_bias.'),
    (r'^layernorm\.', 'norm.'),
    (r'^pooler\.layernorm\.', 'fc_norm.'),
    (r'^(classifier|head)\.', 'head.'),
)


def _merge_qkv(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """``attn.{query,key,value}.{weight,bias}`` -> ``attn.qkv.{weight,bias}`` (a missing key bias is zero)."""
    merged = {}
    for key, value in state_dict.items():
        match = re.match(r'^(blocks\.\d+\.attn\.)(query|key|value)\.(weight|bias)$', key)
        if match is None:
            merged[key] = value
            continue
        prefix, part, kind = match.groups()
        if part != 'query':
            continue
        query = value
        key_part = state_dict.get(f'{prefix}key.{kind}', torch.zeros_like(query))
        value_part = state_dict.get(f'{prefix}value.{kind}')
        if value_part is None:
            raise CheckpointError(f'Hugging Face checkpoint has {key} but no {prefix}value.{kind}: the file is '
                                  f'incomplete')
        merged[f'{prefix}qkv.{kind}'] = torch.cat([query, key_part, value_part])
    return merged


def from_hf(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str],
            use_target_encoder: bool = False) -> Dict[str, torch.Tensor]:
    """Hugging Face names -> canonical; a shared BEiT relative position bias is copied into every block."""
    state_dict = {_BASE_PREFIX.sub('', key): value for key, value in state_dict.items()}
    return from_beit(_merge_qkv(rename_keys(state_dict, _RULES)), dropped)


def format_from_config(config: Mapping[str, Any]) -> str:
    """The format of a ``config.json``; raises :class:`CheckpointError` for model types without a converter."""
    model_type = config.get('model_type')
    if model_type not in MODEL_TYPES:
        raise CheckpointError(f'Hugging Face model_type {model_type!r} is not a supported vision backbone: '
                              f'supported are {", ".join(sorted(MODEL_TYPES))}')
    return MODEL_TYPES[model_type]


def hf_source_options(fmt: str, config: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """Heads, activation and LayerNorm epsilon from ``config.json`` (the model type's defaults without one)."""
    if config is None:
        return dict(act_layer='gelu', norm_eps=_DEFAULT_EPS[fmt])
    act = config.get('hidden_act', 'gelu')
    if act not in _ACTIVATIONS:
        raise CheckpointError(f'Hugging Face hidden_act {act!r} has no counterpart in the backbone: supported are '
                              f'{", ".join(sorted(_ACTIVATIONS))}')
    options = dict(act_layer=_ACTIVATIONS[act], norm_eps=float(config.get('layer_norm_eps', _DEFAULT_EPS[fmt])))
    if config.get('num_attention_heads'):
        options['num_heads'] = int(config['num_attention_heads'])
    return options


__all__ = ['MODEL_TYPES', 'from_hf', 'format_from_config', 'hf_source_options']
