"""Multi-head self-attention with optional relative position terms.

The default path is ``F.scaled_dot_product_attention`` (flash or memory-efficient kernels on GPU, safe in
bf16/fp16); ``attn_impl='eager'`` is the explicit softmax formulation, kept as the reference for tests and
as the slow baseline of the benchmarks.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .rel_pos import (beit_relative_position_index, decomposed_rel_pos_bias, num_relative_distances,
                      rel_pos_augmented_qk)

ATTN_IMPLS = ('sdpa', 'eager')


class Attention(nn.Module):
    """Self-attention over ``[B, N, C]`` tokens laid out on ``grid`` (plus prefix tokens).

    Args:
        dim: token width.
        num_heads: number of heads.
        qkv_bias: bias of the fused qkv projection.
        attn_impl: ``'sdpa'`` or ``'eager'``.
        rel_pos_size: ``(S_h, S_w)`` enables decomposed relative positions with tables ``[2S-1, head_dim]``
            (zero init, ViTDet); tables are resized linearly when the runtime grid differs.
        rel_pos_bias_grid: ``(g_h, g_w)`` enables a BEiT relative position bias table (zero init).
        num_prefix_tokens: prefix (cls) tokens in front of the grid tokens.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 attn_impl: str = 'sdpa',
                 rel_pos_size: Optional[Tuple[int, int]] = None,
                 rel_pos_bias_grid: Optional[Tuple[int, int]] = None,
                 num_prefix_tokens: int = 0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'width {dim} is not divisible by {num_heads} heads')
        if attn_impl not in ATTN_IMPLS:
            raise ValueError(f'attn_impl must be one of {ATTN_IMPLS}, got {attn_impl!r}')
        if rel_pos_size is not None and num_prefix_tokens:
            raise ValueError('decomposed relative positions need a model without cls token (cls_token=False)')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.attn_impl = attn_impl
        self.num_prefix_tokens = num_prefix_tokens
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

        self.use_rel_pos = rel_pos_size is not None
        if self.use_rel_pos:
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * rel_pos_size[0] - 1, self.head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * rel_pos_size[1] - 1, self.head_dim))

        self.rel_pos_bias_grid = tuple(rel_pos_bias_grid) if rel_pos_bias_grid is not None else None
        if self.rel_pos_bias_grid is not None:
            self.relative_position_bias_table = nn.Parameter(
                torch.zeros(num_relative_distances(self.rel_pos_bias_grid, num_prefix_tokens), num_heads))
            self.register_buffer(
                'relative_position_index',
                beit_relative_position_index(self.rel_pos_bias_grid, num_prefix_tokens),
                persistent=False)

    def attention_bias(self, q: torch.Tensor, grid: Tuple[int, int]) -> Optional[torch.Tensor]:
        """Additive logit bias ``[B or 1, heads, N, N]`` from the relative position terms, or None."""
        bias = None
        if self.use_rel_pos:
            bias = decomposed_rel_pos_bias(q, self.rel_pos_h, self.rel_pos_w, grid)
        if self.rel_pos_bias_grid is not None:
            if tuple(grid) != self.rel_pos_bias_grid:
                raise ValueError(f'relative position bias was built for a {self.rel_pos_bias_grid} token grid '
                                 f'but the input gives {tuple(grid)}: build the backbone with the img_size '
                                 f'of the input (or crop/slide to it)')
            num_tokens = self.relative_position_index.shape[0]
            table_bias = self.relative_position_bias_table[self.relative_position_index.flatten()]
            table_bias = table_bias.reshape(num_tokens, num_tokens, -1).permute(2, 0, 1)[None].to(q.dtype)
            bias = table_bias if bias is None else bias + table_bias
        return bias

    def forward(self, x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        batch, num_tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, num_tokens, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if self.attn_impl == 'sdpa' and self.use_rel_pos and self.rel_pos_bias_grid is None:
            q, k = rel_pos_augmented_qk(q, k, self.rel_pos_h, self.rel_pos_w, grid, self.scale)
            x = F.scaled_dot_product_attention(q, k, v, scale=1.0)
            return self.proj(x.transpose(1, 2).reshape(batch, num_tokens, dim))
        bias = self.attention_bias(q, grid)
        if self.attn_impl == 'sdpa':
            x = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        else:
            logits = (q * self.scale) @ k.transpose(-2, -1)
            if bias is not None:
                logits = logits + bias
            x = logits.softmax(dim=-1) @ v
        return self.proj(x.transpose(1, 2).reshape(batch, num_tokens, dim))
