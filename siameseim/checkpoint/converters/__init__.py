"""One converter per source format, mapping its state dict onto the canonical (timm) names.

A converter takes the unwrapped state dict, the ``dropped`` record (key -> reason, filled with what it removes)
and whether the target / momentum encoder is wanted, and returns the renamed state dict; keys that are not
backbone are dropped afterwards by :func:`~siameseim.checkpoint.to_canonical`. Formats already in timm's names
(MAE, DeiT, timm, fine-tuned SiameseIM / MAE) have no converter. A new source format adds a module here and an
entry in :data:`CONVERTERS` (and its detection rule in :mod:`siameseim.checkpoint.detect`).
"""
from typing import Callable, Dict

import torch

from .beit import from_beit
from .deit import from_deit_distilled
from .mm import from_mm
from .moco import from_moco
from .siameseim import from_siameseim_pretrain
from .suite import from_suite_downstream, from_suite_pretrain

Converter = Callable[[Dict[str, torch.Tensor], Dict[str, str], bool], Dict[str, torch.Tensor]]

CONVERTERS: Dict[str, Converter] = {
    'siameseim-pretrain': from_siameseim_pretrain,
    'moco-v3': from_moco,
    'beit': from_beit,
    'mmpretrain': from_mm,
    'mmseg': from_mm,
    'siameseim-suite-downstream': from_suite_downstream,
    'siameseim-suite-pretrain': from_suite_pretrain,
    'deit-distilled': from_deit_distilled,
}

# Formats whose checkpoints can hold a second (target / momentum) encoder.
TARGET_ENCODER_FORMATS = ('siameseim-pretrain', 'siameseim-suite-pretrain', 'moco-v3')

__all__ = ['CONVERTERS', 'Converter', 'TARGET_ENCODER_FORMATS']
