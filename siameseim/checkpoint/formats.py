"""The checkpoint formats the importer knows and the vocabulary every converter shares.

:data:`FORMATS` lists each format with its position-embedding convention and input normalisation; the canonical
backbone keys are timm's (docs/method.md §6), and every key a conversion removes is recorded with the reason
(:data:`DROP_REASONS`) so that the load report can say why.

The mmpretrain / mmseg names were written from knowledge of their ViT modules, not read from their files:
``backbone.`` prefix; ``patch_embed.projection``; ``layers.i.{ln1,ln2}``; ``layers.i.attn.{qkv,proj}`` (mmpretrain,
mmseg BEiT/MAE) or ``layers.i.attn.attn.{in_proj_weight,in_proj_bias,out_proj}`` (mmseg ViT, ``vit2mmseg``);
``layers.i.ffn.layers.0.0`` / ``ffn.layers.1``; LayerScale ``layers.i.attn.gamma1.weight`` /
``layers.i.ffn.gamma2.weight`` (mmpretrain) or ``layers.i.gamma_1`` / ``gamma_2`` (mmseg); final norm ``ln1``,
pooled norm ``ln2``; classifier ``head.layers.head`` (``VisionTransformerClsHead``) or ``head.fc``
(``LinearClsHead``).
"""
import re
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import torch

from .errors import CheckpointError

SUITE_FORMAT = 'siameseim-suite'
SUITE_FORMAT_VERSION = 1

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
BEIT_MEAN, BEIT_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)

# format -> (position-embedding convention when the table is fixed by the method, input mean, input std).
# A stored table that numerically equals a sin-cos table is reported as such whatever the format; mean/std
# None = not determined by the format (timm weights carry theirs in the model's pretrained_cfg).
FORMATS: Dict[str, Tuple[str, Optional[tuple], Optional[tuple]]] = {
    'siameseim-pretrain': ('row_first', IMAGENET_MEAN, IMAGENET_STD),
    'siameseim-finetune': ('row_first', IMAGENET_MEAN, IMAGENET_STD),
    'mae': ('col_first', IMAGENET_MEAN, IMAGENET_STD),
    'mae-full': ('col_first', IMAGENET_MEAN, IMAGENET_STD),
    'mae-finetune': ('learned', IMAGENET_MEAN, IMAGENET_STD),
    'moco-v3': ('row_first', IMAGENET_MEAN, IMAGENET_STD),
    'beit': ('learned', BEIT_MEAN, BEIT_STD),
    'deit': ('learned', IMAGENET_MEAN, IMAGENET_STD),
    'deit-distilled': ('learned', IMAGENET_MEAN, IMAGENET_STD),
    'timm': ('learned', None, None),
    'mmpretrain': ('learned', IMAGENET_MEAN, IMAGENET_STD),
    'mmseg': ('learned', IMAGENET_MEAN, IMAGENET_STD),
    'siameseim-suite-downstream': ('learned', None, None),
    'siameseim-suite-pretrain': ('row_first', IMAGENET_MEAN, IMAGENET_STD),
    SUITE_FORMAT: ('learned', None, None),
}

BACKBONE_KEY = re.compile(r'^(cls_token|pos_embed|patch_embed\.proj\.(weight|bias)|norm\.(weight|bias)'
                           r'|blocks\.\d+\.((norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)'
                           r'|ls[12]\.gamma|attn\.(relative_position_bias_table|rel_pos_h|rel_pos_w)))$')
HEAD_KEY = re.compile(r'^(fc_norm|head)\.(weight|bias)$')

# Why a key of a source checkpoint is not part of the backbone; first match wins.
DROP_REASONS: Sequence[Tuple[str, str]] = (
    (r'^mm_', 'SiameseIM target (momentum) branch; use_target_encoder=True / --target-encoder loads its encoder'),
    (r'^(decoder_|projector_decoder_blocks|predictor_decoder_blocks)', 'pretraining decoder / projector / predictor'),
    (r'^mask_token$', 'mask token of masked image modelling'),
    (r'^momentum_encoder\.', 'MoCo-v3 momentum encoder; use_target_encoder=True / --target-encoder loads it'),
    (r'^base_encoder\.', 'MoCo-v3 online encoder (momentum encoder requested)'),
    (r'^predictor\.', 'MoCo-v3 predictor MLP'),
    (r'^head\.\d+\.', 'MoCo-v3 projection MLP (not a classifier)'),
    (r'relative_position_index$', 'index buffer, rebuilt by the model'),
    (r'^lm_head\.', 'BEiT masked-image-modelling head'),
    (r'^(dist_token|head_dist\.|pos_embed\[1\])', 'DeiT distillation token'),
    (r'^head\.layers\.pre_logits', 'mmpretrain pre-logits layer (no counterpart)'),
    (r'^(head|fc_norm)\.', 'classifier: keep_head=True / --keep-head keeps it'),
    (r'^(neck|decode_head|auxiliary_head|rpn_head|roi_head|data_preprocessor)\.',
     'task model outside the backbone (neck, heads)'),
)


def is_suite_checkpoint(checkpoint: Mapping) -> bool:
    """Whether ``checkpoint`` is in the suite's converted format (``meta.format == SUITE_FORMAT``)."""
    meta = checkpoint.get('meta')
    return isinstance(meta, Mapping) and meta.get('format') == SUITE_FORMAT


def unwrap(checkpoint: Mapping) -> Tuple[Dict[str, torch.Tensor], Optional[str]]:
    """The state dict without ``module.``: ``state_dict``, ``model``, ``module``, else the dict itself
    (docs/method.md §6.7 rule 1)."""
    container = next((key for key in ('state_dict', 'model', 'module') if isinstance(checkpoint.get(key), Mapping)),
                     None)
    state_dict = checkpoint[container] if container else checkpoint
    tensors = {key.removeprefix('module.'): value
               for key, value in state_dict.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise CheckpointError('checkpoint holds no tensors: expected a state dict or a dict wrapping one '
                              '(model / state_dict / module)')
    return tensors, container


def drop_reason(key: str) -> str:
    """Why ``key`` is not part of the backbone: the first matching :data:`DROP_REASONS` entry."""
    return next((reason for pattern, reason in DROP_REASONS if re.search(pattern, key)),
                'not part of the ViT backbone')


def rename_keys(state_dict: Mapping[str, Any], rules: Sequence[Tuple[str, str]]) -> Dict[str, Any]:
    """``state_dict`` with every ``(pattern, replacement)`` regex rule applied to each key, in order."""
    renamed = {}
    for key, value in state_dict.items():
        for pattern, replacement in rules:
            key = re.sub(pattern, replacement, key)
        renamed[key] = value
    return renamed


def strip_backbone_prefix(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str],
                           keep: Callable[[str], bool] = lambda key: False) -> Dict[str, torch.Tensor]:
    """Keys under ``backbone.`` without the prefix, plus the non-backbone keys ``keep`` accepts."""
    if not any(key.startswith('backbone.') for key in state_dict):
        return state_dict
    inner = {}
    for key, value in state_dict.items():
        if key.startswith('backbone.'):
            inner[key[len('backbone.'):]] = value
        elif keep(key):
            inner[key] = value
        else:
            dropped[key] = drop_reason(key)
    return inner


def select_backbone(state_dict: Mapping[str, torch.Tensor], keep_head: bool,
                     dropped: Dict[str, str]) -> Dict[str, torch.Tensor]:
    """The canonical backbone keys (and the classifier with ``keep_head``); every other key goes to ``dropped``."""
    selected = {}
    for key, value in state_dict.items():
        if BACKBONE_KEY.match(key) or (keep_head and HEAD_KEY.match(key)):
            selected[key] = value
        else:
            dropped.setdefault(key, drop_reason(key))
    return selected


__all__ = ['SUITE_FORMAT', 'SUITE_FORMAT_VERSION', 'FORMATS', 'rename_keys']
