"""Training hooks of SiameseIM pretraining."""
from .finite_loss import FiniteLossHook
from .momentum import MomentumUpdateHook, cosine_momentum

__all__ = ['FiniteLossHook', 'MomentumUpdateHook', 'cosine_momentum']
