"""The ImageNet classifier around the shared ViT, its data preprocessor and its strict checkpoint loading."""
from .checkpoint import ClassifierCheckpointHook, classifier_state_dict
from .classifier import ImageClassifier
from .data_preprocessor import ClassificationDataPreprocessor

__all__ = ['ClassificationDataPreprocessor', 'ClassifierCheckpointHook', 'ImageClassifier', 'classifier_state_dict']
