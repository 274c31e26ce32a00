"""Strict loading of the classifier that robustness is measured with, in and outside mmengine's runner.

A checkpoint written by this suite's runner is used as is; any other layout (timm, MAE, DeiT, SiameseIM
fine-tuned classifiers) goes through :func:`siameseim.checkpoint.load_pretrained` with its head. Either way a
missing, unused or mis-shaped weight is an error: mmengine's own ``load_from`` is non-strict and would score
a half-loaded model without complaint.
"""
from typing import Mapping, Optional

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from siameseim.checkpoint import CheckpointError, load_pretrained
from siameseim.registry import HOOKS


def classifier_state_dict(model: nn.Module, loaded: Mapping, source: str = 'checkpoint') -> dict:
    """The state dict of ``model`` (an :class:`~siameseim.robustness.models.ImageClassifier`) taken from ``loaded``.

    ``loaded`` is a read checkpoint (``{'state_dict': ...}``, ``{'model': ...}`` or a bare state dict);
    ``source`` names it in errors. A foreign layout is loaded into ``model`` on the way.
    """
    state_dict = loaded.get('state_dict', loaded) if isinstance(loaded, Mapping) else loaded
    if set(state_dict) == set(model.state_dict()):
        try:
            model.load_state_dict(state_dict, strict=True)
        except RuntimeError as err:
            shapes = [line.strip() for line in str(err).splitlines() if 'size mismatch' in line]
            raise CheckpointError(f'{source}: {shapes[0] if shapes else err}: pass the config the checkpoint was '
                                  f'trained with') from None
        return dict(state_dict)
    if getattr(model, 'head', None) is not None:
        raise CheckpointError(f'{source}: keys do not match the linear-probe model: pass the config the '
                              f'checkpoint was trained with')
    try:
        load_pretrained(model.backbone, loaded, keep_head=True, strict=True)
    except CheckpointError as err:
        if 'head.weight' in str(err):
            raise CheckpointError(f'{source} has no 1000-way classifier head: robustness is measured with the '
                                  f'ImageNet fine-tuned classifier; fine-tune first (robustness/configs/'
                                  f'vit-b_ft-100e_in1k.py) and pass that checkpoint') from None
        raise CheckpointError(f'{source}: {err}') from None
    return model.state_dict()


@HOOKS.register_module()
class ClassifierCheckpointHook(Hook):
    """Makes the runner's ``load_from`` strict for the classifier (:func:`classifier_state_dict`): the loaded
    checkpoint is replaced by the classifier's exact state dict before mmengine loads it."""

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        source: Optional[str] = runner.cfg.get('load_from') or 'checkpoint'
        state_dict = classifier_state_dict(model, checkpoint, source)
        checkpoint.clear()
        checkpoint['state_dict'] = state_dict
