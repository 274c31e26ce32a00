"""SiameseIM and MAE pretraining models."""
from .mae import MAE
from .siameseim import SiameseIM, official_to_model_state_dict
from .token_batch_norm import TokenBatchNorm

__all__ = ['MAE', 'SiameseIM', 'TokenBatchNorm', 'official_to_model_state_dict']
