"""mmpretrain and mmseg ViT checkpoints (``backbone.layers.i.*``) onto the canonical backbone."""
from typing import Dict

import torch

from ..formats import rename_keys, strip_backbone_prefix
from .beit import from_beit

_MM_RULES = (
    (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^ln1\.', 'norm.'),
    (r'^ln2\.', 'fc_norm.'),
    (r'^layers\.(\d+)\.ln([12])\.', r'blocks.\1.norm\2.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
    (r'^layers\.(\d+)\.attn\.attn\.in_proj_(weight|bias)$', r'blocks.\1.attn.qkv.\2'),
    (r'^layers\.(\d+)\.attn\.attn\.out_proj\.', r'blocks.\1.attn.proj.'),
    (r'^layers\.(\d+)\.attn\.gamma1\.weight$', r'blocks.\1.ls1.gamma'),
    (r'^layers\.(\d+)\.ffn\.gamma2\.weight$', r'blocks.\1.ls2.gamma'),
    (r'^layers\.(\d+)\.', r'blocks.\1.'),
    (r'^head\.layers\.head\.', 'head.'),
    (r'^head\.fc\.', 'head.'),
)


def from_mm(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str],
            use_target_encoder: bool = False) -> Dict[str, torch.Tensor]:
    """mmpretrain / mmseg names (see :mod:`siameseim.checkpoint.formats`) → canonical."""
    state_dict = strip_backbone_prefix(state_dict, dropped, keep=lambda key: key.startswith('head.'))
    return from_beit(rename_keys(state_dict, _MM_RULES), dropped)


__all__ = ['from_mm']
