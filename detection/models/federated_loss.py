"""Sigmoid classification loss with detectron2's federated loss for LVIS (docs/protocols.md §2.3)."""
import json
import mmap
import os
from typing import List, Optional, Union

import torch
import torch.nn.functional as F
from mmdet.models.losses import CrossEntropyCustomLoss
from mmdet.models.losses.utils import weight_reduce_loss
from mmdet.registry import MODELS


def read_lvis_categories(path: Union[str, os.PathLike]) -> List[dict]:
    """The ``categories`` list of an LVIS json without parsing its (1 GB for v1 train) annotations.

    Finds the top-level ``"categories"`` key by a byte search and decodes only that list; falls back to a
    full parse when the search fails.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'LVIS annotation file {path} does not exist: point image_count_file at '
                                f'lvis_v1_train.json (its categories carry the image_count of each class)')
    with open(path, 'rb') as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        start = data.find(b'"categories"')
        begin = data.find(b':', start) + 1 if start >= 0 else len(data)
        window = 1 << 22
        while begin < len(data):
            text = data[begin:begin + window].decode('utf-8', errors='ignore').lstrip()
            try:
                categories, _ = json.JSONDecoder().raw_decode(text)
            except ValueError:
                if begin + window >= len(data):
                    break
                window *= 4
                continue
            if isinstance(categories, list):
                return categories
            break
    with open(path) as f:
        try:
            content = json.load(f)
        except ValueError as err:
            raise ValueError(f'{path} is not valid JSON ({err}): re-download the LVIS annotation file') from None
    if not isinstance(content, dict) or not isinstance(content.get('categories'), list):
        raise ValueError(f"{path} has no 'categories' list: give an LVIS annotation json")
    return content['categories']


def federated_class_weights(path: Union[str, os.PathLike], num_classes: int, power: float = 0.5) -> torch.Tensor:
    """``image_count ** power`` of each category of an LVIS json, in category-id order."""
    categories = sorted(read_lvis_categories(path), key=lambda cat: cat['id'])
    if len(categories) != num_classes:
        raise ValueError(f'{path} has {len(categories)} categories but the classifier has {num_classes}: '
                         f'use the LVIS train json of the dataset the model is trained on')
    missing = [cat['id'] for cat in categories if 'image_count' not in cat]
    if missing:
        raise ValueError(f'{path}: categories {missing[:5]} have no image_count: use the official '
                         f'lvis_v1_train.json (or add image_count to every category)')
    counts = torch.tensor([float(cat['image_count']) for cat in categories])
    return counts.pow(power)


@MODELS.register_module()
class FederatedLoss(CrossEntropyCustomLoss):
    """Sigmoid BCE over the foreground logits, restricted to the classes of a federated sample.

    Per call, the classes present among the RoI labels (background counted, as in detectron2) are kept and,
    while fewer than ``num_fed_classes``, further foreground classes are drawn without replacement with
    probability ∝ ``image_count ** freq_weight_power``. The loss is the BCE summed over the kept classes and
    divided by ``avg_factor`` (the number of RoIs in mmdet's bbox head). As a ``CrossEntropyCustomLoss`` with
    ``use_sigmoid=True``, it makes the classifier output exactly ``num_classes`` logits and makes inference use
    sigmoid scores.

    Args:
        num_classes: foreground classes (1203 for LVIS v1).
        image_count_file: LVIS json whose categories carry ``image_count`` (``lvis_v1_train.json``).
        num_fed_classes: size of the federated class sample (50).
        freq_weight_power: exponent of the image counts (0.5).
    """

    def __init__(self,
                 num_classes: int,
                 image_count_file: str,
                 num_fed_classes: int = 50,
                 freq_weight_power: float = 0.5,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(use_sigmoid=True, reduction=reduction, num_classes=num_classes, loss_weight=loss_weight)
        if num_fed_classes > num_classes:
            raise ValueError(f'num_fed_classes={num_fed_classes} exceeds num_classes={num_classes}')
        self.num_fed_classes = num_fed_classes
        self.register_buffer(
            'class_weights', federated_class_weights(image_count_file, num_classes, freq_weight_power),
            persistent=False)

    def federated_mask(self, labels: torch.Tensor) -> torch.Tensor:
        """``[num_classes]`` 0/1 weights: classes in ``labels`` plus the sampled negative classes."""
        present = torch.unique(labels)
        prob = labels.new_ones(self.num_classes + 1, dtype=torch.float)
        prob[-1] = 0
        if len(present) < self.num_fed_classes:
            prob[:self.num_classes] = self.class_weights.to(prob.device)
            prob[present] = 0
            sampled = torch.multinomial(prob, self.num_fed_classes - len(present), replacement=False)
            present = torch.cat([present, sampled])
        mask = prob.new_zeros(self.num_classes + 1)
        mask[present] = 1
        return mask[:self.num_classes]

    def forward(self,
                cls_score: torch.Tensor,
                label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> torch.Tensor:
        """``cls_score [N, num_classes]`` logits, ``label [N]`` in ``[0, num_classes]`` (last = background)."""
        reduction = reduction_override if reduction_override else self.reduction
        logits = cls_score[:, :self.num_classes]
        target = F.one_hot(label, self.num_classes + 1)[:, :self.num_classes].to(logits.dtype)
        loss = F.binary_cross_entropy_with_logits(logits, target, reduction='none')
        loss = loss * self.federated_mask(label)[None, :].to(loss.dtype)
        if weight is not None:
            loss = loss * weight.float()[:, None].to(loss.dtype)
        if reduction == 'mean' and avg_factor is None:
            avg_factor = max(cls_score.shape[0], 1)
        loss = weight_reduce_loss(loss.sum(dim=1) if reduction != 'none' else loss,
                                  reduction=reduction, avg_factor=avg_factor)
        return self.loss_weight * loss
