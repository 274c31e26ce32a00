"""The ImageNet classifier around the shared ViT."""
from .classifier import ImageClassifier

__all__ = ['ImageClassifier']
