"""Dataset-level mIoU, mAcc and aAcc plus per-class IoU, from exact integer pixel counts.

Same definition as mmseg's ``IoUMetric`` (docs/protocols.md §3.6: intersections and unions accumulated over the
whole set, IoU NaN-averaged over classes with a non-zero union), but the counts are int64 instead of float32
histograms and the per-class IoU is returned as metrics (``IoU.<class>``), so ``tools/test.py --out`` writes
it to the JSON file instead of only to the log (which gets the per-class IoU and accuracy table).
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmseg.registry import METRICS


def area_counts(pred: torch.Tensor, label: torch.Tensor, num_classes: int,
                ignore_index: int = 255) -> np.ndarray:
    """``[4, C]`` int64 pixel counts of one image: intersection, union, predicted and labelled area.

    Pixels labelled ``ignore_index`` are skipped; any other label outside ``[0, C)`` raises ValueError.
    """
    if pred.shape != label.shape:
        raise ValueError(f'prediction {tuple(pred.shape)} and annotation {tuple(label.shape)} differ in size: '
                         f'predictions must be resized to the original image')
    label = label.long().flatten()
    pred = pred.long().flatten()
    valid = label != ignore_index
    label, pred = label[valid], pred[valid]
    if label.numel() and (label.min() < 0 or label.max() >= num_classes):
        raise ValueError(f'annotation value {int(label.max())} is outside 0..{num_classes - 1} and not the ignore '
                         f'index {ignore_index}: check reduce_zero_label and the number of classes')
    area_pred = torch.bincount(pred.clamp(0, num_classes), minlength=num_classes + 1)[:num_classes]
    area_label = torch.bincount(label, minlength=num_classes)
    intersect = torch.bincount(label[pred == label], minlength=num_classes)
    union = area_pred + area_label - intersect
    return torch.stack([intersect, union, area_pred, area_label]).cpu().numpy().astype(np.int64)


def summarize_areas(areas: np.ndarray) -> Dict[str, np.ndarray]:
    """``aAcc`` (scalar), per-class ``IoU`` and ``Acc`` in percent from summed ``[4, C]`` counts; classes
    with a zero union (IoU) or zero labelled area (Acc) are NaN."""
    intersect, union, _, area_label = areas.astype(np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = np.where(union > 0, intersect / union, np.nan) * 100
        acc = np.where(area_label > 0, intersect / area_label, np.nan) * 100
    all_acc = intersect.sum() / area_label.sum() * 100 if area_label.sum() else np.nan
    return dict(aAcc=np.asarray(all_acc), IoU=iou, Acc=acc)


@METRICS.register_module()
class ClassIoUMetric(BaseMetric):
    """mIoU / mAcc / aAcc and per-class IoU (percent, not rounded) over the whole evaluation set.

    Args:
        ignore_index: label value that is not evaluated (255 after ``reduce_zero_label``).
        per_class: also return ``IoU.<class>`` for every class (NaN where the class is in neither the
            predictions nor the annotations).
        collect_device: ``'cpu'`` or ``'gpu'``, where results are gathered across ranks.
        prefix: metric-name prefix.
    """
    def __init__(self, ignore_index: int = 255, per_class: bool = True, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ignore_index = ignore_index
        self.per_class = per_class

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        num_classes = len(self.dataset_meta['classes'])
        for sample in data_samples:
            if 'gt_sem_seg' not in sample:
                raise ValueError(f'no annotation for {sample.get("img_path", "an image")}: evaluation needs '
                                 f'LoadAnnotations in the test pipeline and an annotation folder')
            pred = sample['pred_sem_seg']['data'].squeeze()
            label = sample['gt_sem_seg']['data'].squeeze().to(pred.device)
            self.results.append(area_counts(pred, label, num_classes, self.ignore_index))

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        summary = summarize_areas(np.sum(results, axis=0))
        classes = self.dataset_meta['classes']
        metrics = dict(aAcc=float(summary['aAcc']), mIoU=float(np.nanmean(summary['IoU'])),
                       mAcc=float(np.nanmean(summary['Acc'])))
        lines = [f'{"class":<24}{"IoU":>8}{"Acc":>8}']
        for name, iou, acc in zip(classes, summary['IoU'], summary['Acc']):
            lines.append(f'{name.strip():<24}{iou:>8.2f}{acc:>8.2f}')
            if self.per_class:
                metrics[f'IoU.{name.strip()}'] = float(iou)
        print_log('per-class results:\n' + '\n'.join(lines), logger='current')
        return metrics
