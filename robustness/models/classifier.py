"""ImageNet classifier on the shared ViT: fine-tuning (docs/method.md §5.1) and linear probing (§5.2).

* ``head='linear'``: the backbone's own head (mean-pooled patch tokens → ``fc_norm`` → Linear), trained
  end to end with timm's ``Mixup`` (mixup/cutmix, label smoothing) and ``SoftTargetCrossEntropy``. The
  weights keep the plain ViT names, so a fine-tuned checkpoint is an ordinary timm/MAE-layout classifier.
* ``head='bn_linear'``: frozen backbone and ``fc_norm`` (at its init), then BatchNorm1d without affine →
  Linear, plain cross-entropy (the MAE/SiameseIM linear probe).

``forward(inputs, label, mode)`` follows mmengine: ``'loss'`` → ``{'loss'}``, ``'predict'`` →
``[{'logits', 'label'}]`` for :class:`~siameseim.robustness.metrics.ClassificationAccuracy`, ``'tensor'`` → logits.
"""
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from timm.data import Mixup
from timm.loss import SoftTargetCrossEntropy

from siameseim.models import ViT
from siameseim.registry import MODELS

HEADS = ('linear', 'bn_linear')


@MODELS.register_module()
class ImageClassifier(BaseModel):
    """ViT classifier for ImageNet fine-tuning and linear probing.

    Args:
        backbone: :class:`siameseim.ViT` config; ``global_pool``/``num_classes`` are set from ``head``.
        num_classes: classes of the head.
        head: ``'linear'`` (fine-tuning) or ``'bn_linear'`` (linear probe, frozen backbone).
        head_init_std: trunc-normal std of the head weight (2e-5 fine-tune, 0.01 linear probe).
        mixup: keyword arguments of ``timm.data.Mixup`` (``num_classes`` filled in), or None.
        label_smoothing: used when ``mixup`` is None (with mixup, pass ``label_smoothing`` inside it).
    """

    def __init__(self,
                 backbone: dict,
                 num_classes: int = 1000,
                 head: str = 'linear',
                 head_init_std: float = 2e-5,
                 mixup: Optional[dict] = None,
                 label_smoothing: float = 0.0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if head not in HEADS:
            raise ValueError(f'head must be one of {HEADS}, got {head!r}')
        self.head_type = head
        backbone = dict(backbone)
        backbone.setdefault('global_pool', 'avg')
        if head == 'linear':
            backbone.update(num_classes=num_classes, head_init_std=head_init_std)
            self.head = None
        else:
            backbone.update(num_classes=0)
            self.head = nn.Sequential(
                nn.BatchNorm1d(self._embed_dim(backbone), affine=False, eps=1e-6),
                nn.Linear(self._embed_dim(backbone), num_classes))
            nn.init.trunc_normal_(self.head[1].weight, std=head_init_std)
            nn.init.zeros_(self.head[1].bias)
        self.backbone: ViT = MODELS.build(dict(backbone, type=backbone.get('type', 'siameseim.ViT')))
        if head == 'bn_linear':
            for param in self.backbone.parameters():
                param.requires_grad = False
        self.mixup = Mixup(**dict(mixup, num_classes=num_classes)) if mixup else None
        self.label_smoothing = label_smoothing

    @staticmethod
    def _embed_dim(backbone: dict) -> int:
        if backbone.get('embed_dim'):
            return backbone['embed_dim']
        from siameseim.models.vit import resolve_arch
        return resolve_arch(backbone.get('arch', 'base'))['embed_dim']

    def train(self, mode: bool = True) -> 'ImageClassifier':
        """Linear probe: the frozen backbone stays in eval mode (no stochastic depth); the head BN trains."""
        super().train(mode)
        if self.head_type == 'bn_linear':
            self.backbone.eval()
        return self

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Class scores ``[B, num_classes]``."""
        if self.head is None:
            return self.backbone(inputs)
        with torch.no_grad():
            features = self.backbone(inputs)
        return self.head(features)

    def forward(self,
                inputs: torch.Tensor,
                label: Optional[torch.Tensor] = None,
                mode: str = 'tensor') -> Union[torch.Tensor, Dict[str, torch.Tensor], List[dict]]:
        if mode == 'tensor':
            return self.logits(inputs)
        if mode == 'loss':
            if label is None:
                raise ValueError("mode='loss' needs labels: the dataset must yield dict(inputs=..., label=...)")
            if self.mixup is not None and self.training:
                if inputs.shape[0] % 2:
                    raise ValueError(f'mixup/cutmix needs an even batch size, got {inputs.shape[0]}: '
                                     f'set an even batch_size or drop_last=True in the train dataloader')
                inputs, targets = self.mixup(inputs, label)
                return dict(loss=SoftTargetCrossEntropy()(self.logits(inputs), targets))
            return dict(loss=F.cross_entropy(self.logits(inputs), label, label_smoothing=self.label_smoothing))
        if mode == 'predict':
            logits = self.logits(inputs).detach().float().cpu()
            labels = label.cpu().tolist() if label is not None else [-1] * len(logits)
            return [dict(logits=row, label=target) for row, target in zip(logits, labels)]
        raise ValueError(f"mode must be 'tensor', 'loss' or 'predict', got {mode!r}")
