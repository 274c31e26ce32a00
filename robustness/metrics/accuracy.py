"""Top-k accuracy, as a function and as the mmengine metric of the classification test and val loops."""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric

from siameseim.registry import METRICS

from ..labels import restricted_prediction, subset_indices


def topk_hits(logits: torch.Tensor, labels: torch.Tensor, topk: Sequence[int] = (1, 5)) -> torch.Tensor:
    """``[B, len(topk)]`` bool: whether each row's label is among its ``k`` largest logits (k capped at the
    classes)."""
    maxk = min(max(topk), logits.shape[-1])
    hits = logits.topk(maxk, dim=-1).indices == labels[:, None]
    return torch.stack([hits[:, :min(k, maxk)].any(dim=1) for k in topk], dim=1)


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, topk: Sequence[int] = (1, 5)) -> Dict[int, int]:
    """Number of rows whose label is among the ``k`` largest logits, for each ``k`` (capped at the classes)."""
    counts = topk_hits(logits, labels, topk).sum(dim=0).tolist()
    return dict(zip(topk, counts))


def percent(hits: int, count: int) -> float:
    """``100 · hits / count``, rounded as ``100 * tensor.double().mean()`` (the fraction first)."""
    return 100.0 * (hits / count) if count else float('nan')


@METRICS.register_module()
class ClassificationAccuracy(BaseMetric):
    """Top-k accuracy (%) of ``{'logits', 'label'}`` predictions; ``subset='a'|'r'`` restricts to 200 classes
    (top-1 only: the argmax among the subset's logits, hendrycks' ImageNet-A/-R protocol).

    ``self.results`` holds one tuple of hits per image, so mmengine's ``collect_results`` drops the images a
    padded distributed sampler scored twice. Reports ``top{k}`` and ``images`` (the number scored).
    """

    default_prefix = 'imagenet'

    def __init__(self, topk: Sequence[int] = (1, 5), subset: Optional[str] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.indices = subset_indices(subset) if subset else None
        self.topk = (1, ) if subset else tuple(topk)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        logits = torch.stack([sample['logits'] for sample in data_samples]).float()
        labels = torch.as_tensor([int(sample['label']) for sample in data_samples])
        if self.indices is not None:
            hits = (restricted_prediction(logits, self.indices) == labels)[:, None]
        else:
            hits = topk_hits(logits, labels, self.topk)
        self.results.extend(tuple(row) for row in hits.tolist())

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        metrics = {f'top{k}': percent(sum(row[i] for row in results), len(results)) for i, k in enumerate(self.topk)}
        metrics['images'] = len(results)
        return metrics
