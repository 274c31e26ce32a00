"""DINOv2 checkpoints (with or without registers) onto the canonical backbone.

Key layout read from ``facebookresearch/dinov2`` ``dinov2/models/vision_transformer.py``: ``cls_token``,
``pos_embed`` (cls row + 37x37 patches at 518 px), ``register_tokens [1, R, D]`` (inserted after the cls token,
no position), ``mask_token [1, D]``, ``blocks.i.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1 | mlp.w12,
mlp.fc2 | mlp.w3, ls2.gamma}`` (``w12`` / ``w3``: ViT-g's SwiGLU), ``norm``; training checkpoints chunk the blocks
(``blocks.<chunk>.<i>.``, ``BlockChunk`` keeps the global index ``i``) and ``train/train.py`` saves the teacher as
``{'teacher': {'backbone.*', 'dino_head.*', 'ibot_head.*'}}``. The renames are those of timm's ``_convert_dinov2``
except the registers: the cls position row is kept (the backbone adds it to the cls token as DINOv2 does) instead
of being folded into the cls token.
"""
from typing import Dict

import torch

from ..formats import rename_keys
from .dino import from_dino

_RULES = (
    (r'^blocks\.\d+\.(\d+)\.', r'blocks.\1.'),
    (r'^register_tokens$', 'reg_token'),
    (r'\.mlp\.w12\.', '.mlp.fc1.'),
    (r'\.mlp\.w3\.', '.mlp.fc2.'),
)


def from_dinov2(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str],
                use_target_encoder: bool = False) -> Dict[str, torch.Tensor]:
    """Teacher backbone of a training checkpoint or the released backbone, in canonical names."""
    return rename_keys(from_dino(state_dict, dropped, use_target_encoder), _RULES)


__all__ = ['from_dinov2']
