"""Pre-norm transformer block shared by every model of the suite."""
import functools
from typing import Callable, Optional, Tuple

import torch
import torch.nn as nn
from timm.layers import DropPath

from .attention import Attention
from .mlp import build_mlp
from .window import window_partition, window_unpartition


class LayerScale(nn.Module):
    """Per-channel residual scale ``γ`` (CaiT); stored as ``ls{1,2}.gamma``."""

    def __init__(self, dim: int, init_value: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim, ), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """``x ← x + DP(LS1(Attn(LN1(x))))``, ``x ← x + DP(LS2(MLP(LN2(x))))``.

    With ``window_size > 0`` the attention runs inside non-overlapping windows of the token grid (ViTDet);
    such blocks take no prefix tokens. ``norm_layer(dim)`` replaces the LayerNorms (the SiameseIM projector
    and predictor use batch norm). ``act_layer`` and ``mlp_layer`` choose the MLP (:func:`build_mlp`: GELU,
    QuickGELU for OpenAI CLIP, packed SwiGLU for DINOv2 ViT-g); its hidden width is ``round(dim * mlp_ratio)``.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 mlp_ratio: float = 4.0,
                 qkv_bias: bool = True,
                 drop_path: float = 0.0,
                 layer_scale_init: Optional[float] = None,
                 norm_eps: float = 1e-6,
                 window_size: int = 0,
                 rel_pos_size: Optional[Tuple[int, int]] = None,
                 rel_pos_bias_grid: Optional[Tuple[int, int]] = None,
                 num_prefix_tokens: int = 0,
                 attn_impl: str = 'sdpa',
                 norm_layer: Optional[Callable[[int], nn.Module]] = None,
                 act_layer: str = 'gelu',
                 mlp_layer: str = 'mlp') -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = functools.partial(nn.LayerNorm, eps=norm_eps)
        if window_size and num_prefix_tokens:
            raise ValueError('window attention needs a model without cls token (cls_token=False)')
        self.window_size = window_size
        self.norm1 = norm_layer(dim)
        self.attn = Attention(
            dim,
            num_heads,
            qkv_bias=qkv_bias,
            attn_impl=attn_impl,
            rel_pos_size=rel_pos_size,
            rel_pos_bias_grid=rel_pos_bias_grid,
            num_prefix_tokens=num_prefix_tokens)
        self.ls1 = LayerScale(dim, layer_scale_init) if layer_scale_init is not None else nn.Identity()
        self.drop_path1 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = build_mlp(dim, round(dim * mlp_ratio), act_layer, mlp_layer)
        self.ls2 = LayerScale(dim, layer_scale_init) if layer_scale_init is not None else nn.Identity()
        self.drop_path2 = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        if self.window_size:
            windows, padded_grid = window_partition(x, grid, self.window_size)
            windows = self.attn(windows, (self.window_size, self.window_size))
            x = window_unpartition(windows, self.window_size, padded_grid, grid)
        else:
            x = self.attn(x, grid)
        x = shortcut + self.drop_path1(self.ls1(x))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))
