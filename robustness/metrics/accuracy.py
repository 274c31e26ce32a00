"""Top-k accuracy, as a function and as the mmengine metric of the fine-tuning / linear-probe val loops."""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric

from siameseim.registry import METRICS

from ..labels import restricted_prediction, subset_indices


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, topk: Sequence[int] = (1, 5)) -> Dict[int, int]:
    """Number of rows whose label is among the ``k`` largest logits, for each ``k`` (capped at the classes)."""
    maxk = min(max(topk), logits.shape[-1])
    top = logits.topk(maxk, dim=-1).indices
    hits = top == labels[:, None]
    return {k: int(hits[:, :min(k, maxk)].any(dim=1).sum()) for k in topk}


@METRICS.register_module()
class ClassificationAccuracy(BaseMetric):
    """Top-k accuracy (%) of ``{'logits', 'label'}`` predictions; ``subset='a'|'r'`` restricts to 200 classes."""

    default_prefix = 'imagenet'

    def __init__(self, topk: Sequence[int] = (1, 5), subset: Optional[str] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.topk = tuple(topk)
        self.indices = subset_indices(subset) if subset else None

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        logits = torch.stack([sample['logits'] for sample in data_samples]).float()
        labels = torch.as_tensor([int(sample['label']) for sample in data_samples])
        if self.indices is not None:
            correct = {1: int((restricted_prediction(logits, self.indices) == labels).sum())}
        else:
            correct = topk_correct(logits, labels, self.topk)
        self.results.append(dict(count=len(labels), correct=correct))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        count = sum(result['count'] for result in results)
        keys = results[0]['correct'].keys() if results else self.topk
        return {f'top{k}': 100.0 * sum(result['correct'][k] for result in results) / max(count, 1) for k in keys}
