"""Evaluation metrics of the detection task (COCO uses mmdet's ``CocoMetric`` directly)."""
from .lvis_metric import LVISEvalMetric

__all__ = ['LVISEvalMetric']
