"""The feed-forward part of a block: which activation and which MLP layout a checkpoint was trained with.

Neither can be read from weights alone (a GELU and a QuickGELU MLP have the same tensors), so the checkpoint
importer records the source's activation and the backbone is built with it. ``'swiglu'`` is DINOv2 ViT-g's
packed SwiGLU (``fc1`` holds both halves, ``silu(x1) * x2``), timm's ``SwiGLUPacked``.
"""
import functools
from typing import Callable, Dict

import torch.nn as nn
from timm.layers import GluMlp, Mlp, QuickGELU

ACTIVATIONS: Dict[str, Callable[[], nn.Module]] = {
    'gelu': nn.GELU,  # exact (erf) GELU: timm, DeiT, MAE, DINO, DINOv2, OpenCLIP, Hugging Face 'gelu'
    'gelu_tanh': functools.partial(nn.GELU, approximate='tanh'),  # Hugging Face 'gelu_new' / 'gelu_pytorch_tanh'
    'quick_gelu': QuickGELU,  # x * sigmoid(1.702 x): OpenAI CLIP
}
MLP_LAYERS = ('mlp', 'swiglu')


def build_mlp(dim: int, hidden_features: int, act_layer: str = 'gelu', mlp_layer: str = 'mlp') -> nn.Module:
    """``fc1 -> act -> fc2`` (``'mlp'``) or packed SwiGLU (``'swiglu'``: ``fc1`` of width ``hidden_features``
    split in two halves, SiLU on the first times the second, ``fc2`` from half the width)."""
    if act_layer not in ACTIVATIONS:
        raise ValueError(f'act_layer must be one of {sorted(ACTIVATIONS)}, got {act_layer!r}')
    if mlp_layer == 'mlp':
        return Mlp(in_features=dim, hidden_features=hidden_features, act_layer=ACTIVATIONS[act_layer])
    if mlp_layer == 'swiglu':
        if hidden_features % 2:
            raise ValueError(f'a packed SwiGLU MLP needs an even hidden width, got {hidden_features}')
        return GluMlp(in_features=dim, hidden_features=hidden_features, act_layer=nn.SiLU, gate_last=False)
    raise ValueError(f'mlp_layer must be one of {MLP_LAYERS}, got {mlp_layer!r}')


__all__ = ['ACTIVATIONS', 'MLP_LAYERS', 'build_mlp']
