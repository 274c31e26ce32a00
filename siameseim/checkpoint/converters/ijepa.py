"""I-JEPA checkpoints onto the canonical backbone.

Key layout read from ``facebookresearch/ijepa``: ``src/train.py`` saves ``{'encoder', 'predictor',
'target_encoder', 'opt', 'scaler', 'epoch', ...}``, each network DDP-wrapped (``module.``);
``src/models/vision_transformer.py`` ``VisionTransformer``: ``patch_embed.proj``, a fixed column-first sin-cos
``pos_embed [1, N, D]`` without cls row, no cls token, ``blocks.i.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1,
mlp.fc2}``, ``norm`` (LayerNorm eps 1e-6). timm's ``checkpoint_filter_fn`` reads ``encoder``; the paper evaluates
the target encoder, which is taken here (the context encoder when it is the only one).
"""
from typing import Dict

import torch

from .networks import select_network


def from_ijepa(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str],
               use_target_encoder: bool = False) -> Dict[str, torch.Tensor]:
    """The target encoder (or the context encoder of a file without one); predictor and the other dropped."""
    return select_network(state_dict, dropped, ('target_encoder.', 'encoder.'), strip=())


__all__ = ['from_ijepa']
