"""Losses of the SiameseIM pretraining task."""
from .unigrad import UniGradLoss, target_second_moment, unigrad_loss

__all__ = ['UniGradLoss', 'target_second_moment', 'unigrad_loss']
