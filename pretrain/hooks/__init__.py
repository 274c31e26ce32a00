"""Training hooks of SiameseIM pretraining."""
from .momentum import MomentumUpdateHook, cosine_momentum

__all__ = ['MomentumUpdateHook', 'cosine_momentum']
