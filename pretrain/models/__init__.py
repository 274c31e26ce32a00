"""SiameseIM (with the ablation's switches), MAE and MoCo-v3 pretraining models."""
from .mae import MAE
from .mlp_head import MLPHead
from .mocov3 import MoCoV3
from .siameseim import SiameseIM, official_to_model_state_dict
from .token_batch_norm import TokenBatchNorm

__all__ = ['MAE', 'MLPHead', 'MoCoV3', 'SiameseIM', 'TokenBatchNorm', 'official_to_model_state_dict']
