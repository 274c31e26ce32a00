"""DINO and iBOT checkpoints onto the canonical backbone.

Key layouts read from ``facebookresearch/dino`` (``vision_transformer.py``, ``main_dino.py``: ``save_dict =
{'student', 'teacher', ...}``, the student DDP-wrapped with ``module.``, both ``MultiCropWrapper`` with
``backbone.`` and ``head.``; ``utils.load_pretrained_weights`` strips those prefixes) and ``bytedance/ibot``
(``models/vision_transformer.py`` adds ``masked_embed``, ``models/head.py`` ``iBOTHead`` adds ``last_layer2`` /
``mlp2``; ``evaluation/classification_layer_decay/extract_backbone_weights.py`` reads ``state_dict`` /
``teacher`` with ``backbone.`` or ``module.backbone.``). The backbone itself is timm's layout.
"""
from typing import Dict

import torch

from ..errors import CheckpointError
from .networks import select_network


def from_dino(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str],
              use_target_encoder: bool = False) -> Dict[str, torch.Tensor]:
    """The teacher backbone (the momentum encoder, which DINO and iBOT evaluate), or the only network saved.

    ``use_target_encoder`` asks for the teacher explicitly: a file holding only a student then fails.
    """
    if use_target_encoder and any(key.startswith('student.') for key in state_dict) \
            and not any(key.startswith('teacher.') for key in state_dict):
        raise CheckpointError('checkpoint holds only the student network: drop --target-encoder')
    return select_network(state_dict, dropped, ('teacher.', 'student.'))


__all__ = ['from_dino']
