"""Top-k accuracy and the ImageNet-C corruption errors."""
from .accuracy import ClassificationAccuracy, topk_correct
from .mce import (ALEXNET_CLEAN_ERROR, ALEXNET_ERRORS, CORRUPTIONS, SEVERITIES, corruption_errors, mce_gap,
                  summarize_imagenet_c)

__all__ = ['ClassificationAccuracy', 'topk_correct', 'ALEXNET_CLEAN_ERROR', 'ALEXNET_ERRORS', 'CORRUPTIONS',
           'SEVERITIES', 'corruption_errors', 'mce_gap', 'summarize_imagenet_c']
