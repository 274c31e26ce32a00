"""The one Vision Transformer of the suite.

Pretraining, detection (ViTDet), segmentation (UperNet) and classification all build this class, registered
as ``siameseim.ViT``. Its state dict uses timm's canonical names (docs/method.md §6), so timm,
DeiT, MAE, MoCo-v3 and SiameseIM weights map onto it directly and BEiT weights after a small rename
(:mod:`siameseim.checkpoint`).

The backbone does not import the checkpoint importer: ``init_weights`` builds the ``PretrainedAnyFormat``
initializer from the ``siameseim`` weight-initializer registry, which :mod:`siameseim.checkpoint` fills (the
registry imports it on first use). The importer reads the backbone's sizes and grids from its attributes.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch.utils.checkpoint import checkpoint

from ..layers import Block, resize_patch_positions, sincos_2d
from ..registry import MODELS, WEIGHT_INITIALIZERS
from .presets import ARCHS, resolve_arch

POS_EMBED_TYPES = ('sincos', 'learned', 'none')
GLOBAL_POOLS = (None, 'avg', 'cls')


def _pair(value: Union[int, Sequence[int]]) -> Tuple[int, int]:
    if isinstance(value, int):
        return value, value
    height, width = value
    return int(height), int(width)


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection ``[B, C, H, W] -> [B, (H/p)·(W/p), D]`` in raster order."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        x = self.proj(x)
        grid = (x.shape[2], x.shape[3])
        return x.flatten(2).transpose(1, 2), grid


@MODELS.register_module()
class ViT(BaseModule):
    """Plain ViT with the options every task of the suite needs.

    Args:
        arch: preset name (:data:`ARCHS`, aliases via :func:`resolve_arch`); explicit ``embed_dim``,
            ``depth``, ``num_heads``, ``patch_size`` override it.
        img_size: input size the model is built for; any other size divisible by the patch works too.
        cls_token: prepend a learned cls token.
        pos_embed: ``'sincos'`` (fixed row-first table, SiameseIM), ``'learned'`` or ``'none'`` (BEiT).
        pos_embed_trainable: defaults to False for ``'sincos'``, True for ``'learned'``.
        pretrain_img_size: size whose grid the stored ``pos_embed`` covers (ViTDet keeps the 224 table and
            resizes it bicubically at every forward); defaults to ``img_size``.
        layer_scale_init: LayerScale init value, None disables it.
        drop_path_rate: stochastic depth, increasing linearly over the blocks.
        window_size, global_attn_indexes: ViTDet window attention in every block not listed as global.
        use_rel_pos: decomposed relative positions in every block (zero init, ViTDet).
        use_rel_pos_bias: per-block BEiT relative position bias (zero init, mmseg MAE/BEiT).
        out_indices: blocks whose patch tokens ``forward`` returns as ``[B, D, gh, gw]`` maps (dense tasks).
        global_pool: ``'avg'`` (patch tokens, then ``fc_norm``) or ``'cls'``; None returns tokens.
        final_norm: LayerNorm after the last block (absent from SiameseIM checkpoints).
        fc_norm: LayerNorm after average pooling; defaults to ``global_pool == 'avg'``.
        num_classes: classifier head size, 0 for none.
        head_init_std: std of the trunc-normal head init (2e-5 fine-tune, 0.01 linear probe).
        grad_checkpointing: recompute blocks in backward to save activation memory.
        frozen_stages: -1 freezes nothing, 0 the patch/position embeddings, k also the first k blocks.
        attn_impl: ``'sdpa'`` (fused kernels) or ``'eager'`` (reference).
        norm_eps: LayerNorm epsilon (1e-6 throughout the paper's models).
        pretrained: checkpoint of any format :mod:`siameseim.checkpoint` knows, loaded by ``init_weights``.
        pretrained_strict: fail when a backbone tensor is neither loaded nor expected to be missing (e.g.
            zero-init relative positions), or a checkpoint tensor finds no slot; set False to load partially.
        init_cfg: mmengine style; ``dict(type='Pretrained', checkpoint=PATH)`` is the same as ``pretrained``.
    """

    def __init__(self,
                 arch: Optional[str] = 'base',
                 img_size: Union[int, Sequence[int]] = 224,
                 patch_size: Optional[int] = None,
                 in_chans: int = 3,
                 embed_dim: Optional[int] = None,
                 depth: Optional[int] = None,
                 num_heads: Optional[int] = None,
                 mlp_ratio: float = 4.0,
                 qkv_bias: bool = True,
                 cls_token: bool = True,
                 pos_embed: str = 'sincos',
                 pos_embed_trainable: Optional[bool] = None,
                 pretrain_img_size: Optional[Union[int, Sequence[int]]] = None,
                 layer_scale_init: Optional[float] = None,
                 drop_path_rate: float = 0.0,
                 window_size: int = 0,
                 global_attn_indexes: Sequence[int] = (),
                 use_rel_pos: bool = False,
                 use_rel_pos_bias: bool = False,
                 out_indices: Optional[Sequence[int]] = None,
                 global_pool: Optional[str] = None,
                 final_norm: bool = True,
                 fc_norm: Optional[bool] = None,
                 num_classes: int = 0,
                 head_init_std: float = 2e-5,
                 grad_checkpointing: bool = False,
                 frozen_stages: int = -1,
                 attn_impl: str = 'sdpa',
                 norm_eps: float = 1e-6,
                 pretrained: Optional[str] = None,
                 pretrained_strict: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained' and pretrained is None:
            pretrained, init_cfg = init_cfg.get('checkpoint'), None
        super().__init__(init_cfg=init_cfg)
        preset = resolve_arch(arch) if arch is not None else {}
        embed_dim = embed_dim if embed_dim is not None else preset.get('embed_dim')
        depth = depth if depth is not None else preset.get('depth')
        num_heads = num_heads if num_heads is not None else preset.get('num_heads')
        patch_size = patch_size if patch_size is not None else preset.get('patch_size', 16)
        if None in (embed_dim, depth, num_heads):
            raise ValueError('give an arch preset or all of embed_dim, depth and num_heads')
        if pos_embed not in POS_EMBED_TYPES:
            raise ValueError(f'pos_embed must be one of {POS_EMBED_TYPES}, got {pos_embed!r}')
        if global_pool not in GLOBAL_POOLS:
            raise ValueError(f'global_pool must be one of {GLOBAL_POOLS}, got {global_pool!r}')
        if global_pool == 'cls' and not cls_token:
            raise ValueError("global_pool='cls' needs cls_token=True")
        if use_rel_pos_bias and window_size:
            raise ValueError('relative position bias (use_rel_pos_bias) and window attention do not combine: '
                             'use use_rel_pos=True (decomposed) for windowed backbones')
        if num_classes and global_pool is None:
            raise ValueError("a classification head (num_classes > 0) needs global_pool='avg' or 'cls'")

        self.embed_dim, self.depth, self.num_heads, self.patch_size = embed_dim, depth, num_heads, patch_size
        self.img_size = _pair(img_size)
        self.grid_size = (self.img_size[0] // patch_size, self.img_size[1] // patch_size)
        pretrain_size = _pair(pretrain_img_size) if pretrain_img_size is not None else self.img_size
        self.pos_embed_grid = (pretrain_size[0] // patch_size, pretrain_size[1] // patch_size)
        self.num_prefix_tokens = 1 if cls_token else 0
        self.window_size = window_size
        self.global_attn_indexes = tuple(global_attn_indexes)
        self.out_indices = tuple(i % depth for i in out_indices) if out_indices is not None else None
        self.global_pool = global_pool
        self.grad_checkpointing = grad_checkpointing
        self.frozen_stages = frozen_stages
        self.pretrained = pretrained
        self.pretrained_strict = pretrained_strict
        self.head_init_std = head_init_std
        self.pos_embed_type = pos_embed

        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if cls_token else None
        if pos_embed == 'none':
            self.pos_embed = None
        else:
            trainable = pos_embed == 'learned' if pos_embed_trainable is None else pos_embed_trainable
            num_rows = self.num_prefix_tokens + self.pos_embed_grid[0] * self.pos_embed_grid[1]
            self.pos_embed = nn.Parameter(torch.zeros(1, num_rows, embed_dim), requires_grad=trainable)

        drop_path_rates = torch.linspace(0, drop_path_rate, depth).tolist()
        blocks = []
        for index in range(depth):
            windowed = window_size > 0 and index not in self.global_attn_indexes
            attn_grid = (window_size, window_size) if windowed else self.grid_size
            blocks.append(
                Block(
                    embed_dim,
                    num_heads,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    drop_path=drop_path_rates[index],
                    layer_scale_init=layer_scale_init,
                    norm_eps=norm_eps,
                    window_size=window_size if windowed else 0,
                    rel_pos_size=attn_grid if use_rel_pos else None,
                    rel_pos_bias_grid=self.grid_size if use_rel_pos_bias else None,
                    num_prefix_tokens=self.num_prefix_tokens,
                    attn_impl=attn_impl))
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps) if final_norm else None
        use_fc_norm = global_pool == 'avg' if fc_norm is None else fc_norm
        self.fc_norm = nn.LayerNorm(embed_dim, eps=norm_eps) if use_fc_norm else None
        self.head = nn.Linear(embed_dim, num_classes) if num_classes else None
        self._init_parameters()
        self._freeze_stages()

    def _init_parameters(self) -> None:
        """SiameseIM/MAE init: Xavier-uniform linears and flattened patch conv, N(0, 0.02) cls token."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        proj = self.patch_embed.proj.weight
        nn.init.xavier_uniform_(proj.data.view(proj.shape[0], -1))
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=0.02)
        if self.pos_embed is not None:
            with torch.no_grad():
                if self.pos_embed_type == 'sincos':
                    self.pos_embed.copy_(sincos_2d(self.embed_dim, self.pos_embed_grid, self.num_prefix_tokens))
                else:
                    nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.head is not None:
            nn.init.trunc_normal_(self.head.weight, std=self.head_init_std)

    def _frozen_modules(self):
        if self.frozen_stages < 0:
            return []
        return [self.patch_embed] + list(self.blocks[:self.frozen_stages])

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        if self.frozen_stages > self.depth:
            raise ValueError(f'frozen_stages={self.frozen_stages} exceeds the {self.depth} blocks')
        for param in (self.cls_token, self.pos_embed):
            if param is not None:
                param.requires_grad = False
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'ViT':
        """Switch mode, keeping frozen stages in eval (no stochastic depth there)."""
        super().train(mode)
        for module in self._frozen_modules():
            module.eval()
        return self

    def init_weights(self) -> None:
        """Load ``pretrained`` (any known checkpoint format, strictly unless disabled) and log the report."""
        if self.pretrained is None:
            return
        initializer = WEIGHT_INITIALIZERS.build(
            dict(type='siameseim.PretrainedAnyFormat', checkpoint=self.pretrained, strict=self.pretrained_strict))
        initializer(self)

    def embed_tokens(self, x: torch.Tensor,
                     ids_keep: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Patch tokens plus positions (and prefix tokens): ``[B, prefix + N, D]`` and the token grid.

        ``ids_keep [B, V]`` keeps only those patch tokens (raster indices), in that order — the visible
        tokens of masked pretraining.
        """
        tokens, grid = self.patch_embed(x)
        if self.pos_embed is not None:
            patch_pos = self.pos_embed[:, self.num_prefix_tokens:]
            patch_pos = resize_patch_positions(patch_pos, self.pos_embed_grid, grid)
            tokens = tokens + patch_pos.to(tokens.dtype)
        if ids_keep is not None:
            tokens = torch.gather(tokens, 1, ids_keep[..., None].expand(-1, -1, tokens.shape[-1]))
        if self.cls_token is not None:
            cls = self.cls_token
            if self.pos_embed is not None:
                cls = cls + self.pos_embed[:, :1]
            tokens = torch.cat([cls.expand(tokens.shape[0], -1, -1).to(tokens.dtype), tokens], dim=1)
        return tokens, grid

    def _check_masking_supported(self) -> None:
        if self.window_size or any(blk.attn.use_rel_pos or blk.attn.rel_pos_bias_grid for blk in self.blocks):
            raise ValueError('forward on visible tokens (ids_keep) needs plain global attention: '
                             'build the backbone without window attention and relative positions')

    def run_block(self, block: nn.Module, x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        """One block, recomputed in backward when gradient checkpointing is on."""
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(block, x, grid, use_reentrant=False)
        return block(x, grid)

    def forward_features(self, x: torch.Tensor, ids_keep: Optional[torch.Tensor] = None) -> torch.Tensor:
        """All tokens after the last block (and the final norm if present): ``[B, prefix + N, D]``."""
        if ids_keep is not None:
            self._check_masking_supported()
        x, grid = self.embed_tokens(x, ids_keep)
        for block in self.blocks:
            x = self.run_block(block, x, grid)
        return self.norm(x) if self.norm is not None else x

    def forward_dense(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Patch-token maps ``[B, D, gh, gw]`` after each block of ``out_indices`` (final norm on the last)."""
        out_indices = self.out_indices if self.out_indices is not None else (self.depth - 1, )
        x, grid = self.embed_tokens(x)
        outputs = []
        for index, block in enumerate(self.blocks):
            x = self.run_block(block, x, grid)
            if index in out_indices:
                out = self.norm(x) if index == self.depth - 1 and self.norm is not None else x
                out = out[:, self.num_prefix_tokens:]
                outputs.append(out.transpose(1, 2).reshape(x.shape[0], self.embed_dim, *grid))
        return tuple(outputs)

    def forward_head(self, tokens: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool ``[B, prefix + N, D]`` tokens (cls or average + fc_norm) and apply the head."""
        if self.global_pool == 'cls':
            pooled = tokens[:, 0]
        else:
            pooled = tokens[:, self.num_prefix_tokens:].mean(dim=1)
        if self.fc_norm is not None:
            pooled = self.fc_norm(pooled)
        if pre_logits or self.head is None:
            return pooled
        return self.head(pooled)

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        """Dense maps when ``out_indices`` is set, else logits / pooled features, else all tokens."""
        if self.out_indices is not None:
            return self.forward_dense(x)
        tokens = self.forward_features(x)
        if self.global_pool is None:
            return tokens
        return self.forward_head(tokens)


def build_backbone(arch_or_cfg: Union[str, dict], **kwargs) -> ViT:
    """Build the shared backbone from an arch name (``'vit-b'``) or a config dict, ``kwargs`` overriding."""
    if isinstance(arch_or_cfg, str):
        return ViT(arch=arch_or_cfg, **kwargs)
    cfg = dict(arch_or_cfg, **kwargs)
    cfg.setdefault('type', 'siameseim.ViT')
    return MODELS.build(cfg)


__all__ = ['ARCHS', 'PatchEmbed', 'ViT', 'build_backbone', 'resolve_arch']
