"""Evaluation metrics of the detection task: COCO through mmdet's ``CocoMetric``, LVIS through the lvis API."""
from .coco_metric import CheckedCocoMetric
from .lvis_metric import LVISEvalMetric

__all__ = ['CheckedCocoMetric', 'LVISEvalMetric']
