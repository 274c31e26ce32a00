"""Top-k accuracy and the ImageNet-C corruption errors, as functions and as mmengine metrics."""
from .accuracy import ClassificationAccuracy, topk_correct, topk_hits
from .imagenet_c import ImageNetCMetric
from .mce import (ALEXNET_CLEAN_ERROR, ALEXNET_ERRORS, CORRUPTIONS, SEVERITIES, corruption_errors, mce_gap,
                  summarize_imagenet_c)

__all__ = ['ClassificationAccuracy', 'ImageNetCMetric', 'topk_correct', 'topk_hits', 'ALEXNET_CLEAN_ERROR',
           'ALEXNET_ERRORS', 'CORRUPTIONS', 'SEVERITIES', 'corruption_errors', 'mce_gap', 'summarize_imagenet_c']
