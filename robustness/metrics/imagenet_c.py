"""The ImageNet-C metric: top-1 error per corruption and severity, then CE, mCE, relative mCE and 1 − mCE."""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric

from siameseim.registry import METRICS

from .mce import CORRUPTIONS, summarize_imagenet_c


@METRICS.register_module()
class ImageNetCMetric(BaseMetric):
    """Scores :class:`~siameseim.robustness.datasets.ImageNetC` batches (``corruption`` / ``severity`` per image).

    ``self.results`` holds one ``(corruption, severity, hit)`` per image, so mmengine's ``collect_results``
    drops the images a padded distributed sampler scored twice. The metrics are the entries of
    :func:`~siameseim.robustness.metrics.summarize_imagenet_c` (``errors``, ``ce``, ``relative_ce`` as nested dicts,
    ``mce``, ``one_minus_mce``, ``relative_mce``, ``incomplete``, ``convention``), ``missing_corruptions``
    (corruptions without any folder) and ``images``.

    Args:
        clean_top1: the model's ImageNet val top-1 in percent, for relative CE / mCE (None: not computed).
    """

    default_prefix = 'imagenet-c'

    def __init__(self, clean_top1: Optional[float] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.clean_top1 = clean_top1

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        logits = torch.stack([sample['logits'] for sample in data_samples]).float()
        labels = torch.as_tensor([int(sample['label']) for sample in data_samples])
        hits = (logits.argmax(dim=-1) == labels).tolist()
        severities = torch.as_tensor(data_batch['severity']).tolist()
        self.results.extend(zip(data_batch['corruption'], severities, hits))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, object]:
        counts: Dict[str, Dict[int, List[int]]] = {}
        for corruption, severity, hit in results:
            count = counts.setdefault(corruption, {}).setdefault(int(severity), [0, 0])
            count[0] += int(hit)
            count[1] += 1
        errors = {c: {s: 1 - hits / total for s, (hits, total) in sorted(counts[c].items())}
                  for c in CORRUPTIONS if c in counts}
        clean_error = None if self.clean_top1 is None else 1 - self.clean_top1 / 100
        metrics = summarize_imagenet_c(errors, clean_error)
        metrics['missing_corruptions'] = [c for c in CORRUPTIONS if c not in counts]
        metrics['images'] = len(results)
        return metrics
