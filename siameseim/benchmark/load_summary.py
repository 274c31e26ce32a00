"""What loading a checkpoint into a task's backbone did, in a form ``results.json`` can keep.

The suite builds each task's backbone from the task's own config (the ``model.backbone`` entry the training
run uses) and loads the checkpoint the way ``ViT.init_weights`` does, so the recorded counts are those of the
run: a backbone that silently received nothing would show ``loaded: 0``.
"""
from typing import Mapping, Optional

from ..checkpoint import LoadReport, load_pretrained
from ..models.vit import ViT

_NOT_VIT_OPTIONS = ('type', 'pretrained', 'pretrained_strict', 'init_cfg')


def summarize(report: LoadReport) -> dict:
    """Counts of loaded / resized / missing / unexpected / dropped tensors and the keys that were resized."""
    return dict(format=report.format, loaded=len(report.loaded), resized=len(report.resized),
                resized_keys=[f'{key}: {list(old)} -> {list(new)}' for key, old, new in report.resized],
                missing=len(report.missing), unexplained_missing=len(report.unexplained_missing),
                unexpected=len(report.unexpected), dropped=len(report.dropped))


def build_backbone(backbone: Mapping) -> ViT:
    """The ViT a task config's ``model.backbone`` describes, without loading its ``pretrained`` checkpoint."""
    return ViT(**{key: value for key, value in dict(backbone).items() if key not in _NOT_VIT_OPTIONS})


def backbone_load_summary(backbone: Mapping, checkpoint: Optional[str]) -> Optional[dict]:
    """:func:`summarize` of loading ``checkpoint`` into the backbone of ``backbone`` (None for random init)."""
    if checkpoint is None:
        return None
    report = load_pretrained(build_backbone(backbone), checkpoint, strict=dict(backbone).get('pretrained_strict',
                                                                                             True))
    return summarize(report)
