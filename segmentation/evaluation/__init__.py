"""Segmentation metrics registered in mmseg's ``METRICS``."""
from .iou_metric import ClassIoUMetric, area_counts, summarize_areas

__all__ = ['ClassIoUMetric', 'area_counts', 'summarize_areas']
