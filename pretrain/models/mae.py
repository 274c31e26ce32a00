"""MAE baseline (He et al., 2022) on the shared backbone, trained by the same runner as SiameseIM.

Implemented from the MAE reference (docs/method.md §3.6), not from the SiameseIM repository's MAE path, which
cannot run as published. The encoder uses this suite's row-first sin-cos table; MAE's released weights use
the column-first one, which only matters when regenerating tables, never when loading (docs/method.md §1.2).
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModel

from siameseim.layers import Block, sincos_2d
from siameseim.models import build_backbone
from siameseim.registry import MODELS


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """``[B, C, H, W]`` -> ``[B, L, p·p·C]`` with each patch flattened in ``(p, q, c)`` order."""
    batch, channels, height, width = images.shape
    gh, gw = height // patch_size, width // patch_size
    patches = images.reshape(batch, channels, gh, patch_size, gw, patch_size)
    return torch.einsum('nchpwq->nhwpqc', patches).reshape(batch, gh * gw, patch_size * patch_size * channels)


def random_masking(batch: int, num_patches: int, mask_ratio: float,
                   device: torch.device) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample uniform masking: ``(ids_keep [B, V], ids_restore [B, L], mask [B, L])``, 1 = masked."""
    num_keep = int(num_patches * (1 - mask_ratio))
    ids_shuffle = torch.rand(batch, num_patches, device=device).argsort(dim=1)
    ids_restore = ids_shuffle.argsort(dim=1)
    mask = torch.ones(batch, num_patches, device=device)
    mask[:, :num_keep] = 0
    return ids_shuffle[:, :num_keep], ids_restore, torch.gather(mask, 1, ids_restore)


@MODELS.register_module()
class MAE(BaseModel):
    """Masked autoencoder: encoder on visible patches, LayerNorm decoder reconstructing masked pixels.

    Args:
        encoder: config of the shared ViT (cls token and final norm on, as MAE).
        decoder_dim, decoder_depth, decoder_num_heads: 512, 8, 16 in the reference.
        mask_ratio: fraction of masked patches (0.75).
        norm_pix_loss: per-patch normalised pixel targets (used by the released MAE models).
    """

    def __init__(self,
                 encoder: dict,
                 decoder_dim: int = 512,
                 decoder_depth: int = 8,
                 decoder_num_heads: int = 16,
                 mask_ratio: float = 0.75,
                 norm_pix_loss: bool = True,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not 0 < mask_ratio < 1:
            raise ValueError(f'mask_ratio must lie in (0, 1), got {mask_ratio}')
        self.encoder = build_backbone(dict(encoder))
        if self.encoder.num_prefix_tokens != 1 or self.encoder.global_pool is not None:
            raise ValueError('the MAE encoder needs cls_token=True and global_pool=None')
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        patch = self.encoder.patch_size
        self.decoder_embed = nn.Linear(self.encoder.embed_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.register_buffer('decoder_pos_embed', sincos_2d(decoder_dim, self.encoder.grid_size, num_prefix_tokens=1))
        self.decoder_blocks = nn.ModuleList(
            Block(decoder_dim, decoder_num_heads, qkv_bias=True) for _ in range(decoder_depth))
        self.decoder_norm = nn.LayerNorm(decoder_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(decoder_dim, patch * patch * 3)
        for module in (self.decoder_embed, self.decoder_blocks, self.decoder_pred):
            for sub in module.modules():
                if isinstance(sub, nn.Linear):
                    nn.init.xavier_uniform_(sub.weight)
                    nn.init.zeros_(sub.bias)
        nn.init.normal_(self.mask_token, std=0.02)

    def reconstruct(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Predicted patches ``[B, L, p·p·3]`` and the mask ``[B, L]`` (1 = masked)."""
        batch = inputs.shape[0]
        num_patches = self.encoder.grid_size[0] * self.encoder.grid_size[1]
        ids_keep, ids_restore, mask = random_masking(batch, num_patches, self.mask_ratio, inputs.device)
        tokens = self.decoder_embed(self.encoder.forward_features(inputs, ids_keep=ids_keep))
        mask_tokens = self.mask_token.to(tokens.dtype).expand(batch, num_patches - ids_keep.shape[1], -1)
        patches = torch.cat([tokens[:, 1:], mask_tokens], dim=1)
        patches = torch.gather(patches, 1, ids_restore[..., None].expand(-1, -1, tokens.shape[-1]))
        tokens = torch.cat([tokens[:, :1], patches], dim=1) + self.decoder_pos_embed.to(tokens.dtype)
        for block in self.decoder_blocks:
            tokens = block(tokens, self.encoder.grid_size)
        return self.decoder_pred(self.decoder_norm(tokens))[:, 1:], mask

    def reconstruction_loss(self, inputs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error on the masked patches, in fp32."""
        target = patchify(inputs, self.encoder.patch_size).float()
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6)**0.5
        per_patch = (pred.float() - target).pow(2).mean(dim=-1)
        return (per_patch * mask).sum() / mask.sum()

    def forward(self, inputs: torch.Tensor, mode: str = 'loss') -> Dict[str, torch.Tensor]:
        """``mode='loss'`` returns ``{'loss': …}``; ``mode='tensor'`` the predictions and mask."""
        pred, mask = self.reconstruct(inputs)
        if mode == 'tensor':
            return dict(pred=pred, mask=mask)
        if mode != 'loss':
            raise ValueError(f"MAE supports mode='loss' or 'tensor', got {mode!r}")
        return dict(loss=self.reconstruction_loss(inputs, pred, mask))
