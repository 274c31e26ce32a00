"""``PretrainedAnyFormat``: the weight initializer behind the backbone's ``pretrained=`` / ``init_cfg``.

:meth:`siameseim.models.ViT.init_weights` builds it from the ``siameseim`` weight-initializer registry, so the
backbone loads checkpoints of every format without importing this package (detectron2 ViTDet keeps its backbone
free of the checkpointer the same way).
"""
import os
from typing import Union

import torch.nn as nn
from mmengine.logging import print_log

from ..registry import WEIGHT_INITIALIZERS
from .loading import load_pretrained


@WEIGHT_INITIALIZERS.register_module()
class PretrainedAnyFormat:
    """Load ``checkpoint`` (any format :mod:`siameseim.checkpoint` knows) into a backbone and log the report.

    Args:
        checkpoint: path of the checkpoint file.
        strict: fail when a backbone tensor is neither loaded nor expected to be missing, or a checkpoint tensor
            finds no slot (:func:`~siameseim.checkpoint.load_pretrained`).
    """

    def __init__(self, checkpoint: Union[str, os.PathLike], strict: bool = True) -> None:
        self.checkpoint = checkpoint
        self.strict = strict

    def __call__(self, module: nn.Module) -> None:
        report = load_pretrained(module, self.checkpoint, strict=self.strict)
        print_log(str(report), logger='current')


__all__ = ['PretrainedAnyFormat']
