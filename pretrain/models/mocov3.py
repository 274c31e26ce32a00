"""MoCo v3 baseline (Chen, Xie and He, ICCV 2021) on the shared ViT, trained by the same runner as SiameseIM.

Written from the MoCo-v3 reference (facebookresearch/moco-v3): online encoder + 3-layer projection MLP +
2-layer prediction MLP, a momentum copy of encoder and projector, both with batch norm (statistics global over
the GPUs with the configs' ``sync_bn``); the cls token after the encoder's final LayerNorm is the image
representation; each crop's predictions are contrasted with the other crop's momentum projections by
:class:`~siameseim.pretrain.losses.InfoNCELoss` (τ = 0.2, ``2τ`` scaling, symmetrised). The patch projection
is frozen at its random init (MoCo-v3's ``--stop-grad-conv1``). The momentum follows
:class:`~siameseim.pretrain.hooks.MomentumUpdateHook` (0.99 → 1, cosine) before every step, as MoCo-v3 updates
it inside the forward before the key pass. Module names follow this suite's pretraining models (``encoder.*``,
``target_encoder.*``), so ``tools/train.py`` checkpoints load everywhere a SiameseIM or MAE run's do.
"""
import copy
import math
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModel

from siameseim.models import build_backbone
from siameseim.registry import MODELS

from ..losses import InfoNCELoss
from .mlp_head import MLPHead
from .momentum_branch import ema_parameter_pairs, lerp_towards_online


def moco_vit_init(encoder: nn.Module) -> None:
    """MoCo-v3's ViT init on top of the suite's: each of Q, K, V Xavier-uniform as its own matrix, cls token
    N(0, 1e-6), zero patch-projection bias (the other linears and the patch weight are Xavier-uniform in both)."""
    for name, module in encoder.named_modules():
        if isinstance(module, nn.Linear) and name.endswith('qkv'):
            bound = math.sqrt(6.0 / (module.weight.shape[0] // 3 + module.weight.shape[1]))
            nn.init.uniform_(module.weight, -bound, bound)
    nn.init.normal_(encoder.cls_token, std=1e-6)
    nn.init.zeros_(encoder.patch_embed.proj.bias)


@MODELS.register_module()
class MoCoV3(BaseModel):
    """MoCo v3 with a ViT encoder.

    Args:
        encoder: config of the shared ViT (cls token and final norm on, as MoCo-v3's timm ViT).
        dim: output width of projector and predictor (256).
        mlp_dim: hidden width of both MLPs (4096).
        temperature: InfoNCE ``τ`` (0.2 for ViTs).
        train_patch_embed: train the patch projection (frozen in MoCo-v3's ViT recipes).
    """

    def __init__(self,
                 encoder: dict,
                 dim: int = 256,
                 mlp_dim: int = 4096,
                 temperature: float = 0.2,
                 train_patch_embed: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.encoder = build_backbone(dict(encoder))
        if self.encoder.num_prefix_tokens != 1 or self.encoder.global_pool is not None:
            raise ValueError('the MoCo-v3 encoder needs cls_token=True and global_pool=None')
        moco_vit_init(self.encoder)
        self.encoder.patch_embed.requires_grad_(train_patch_embed)
        self.projector = MLPHead(3, self.encoder.embed_dim, mlp_dim, dim, 'bn')
        self.predictor = MLPHead(2, dim, mlp_dim, dim, 'bn')
        self.target_encoder = copy.deepcopy(self.encoder)
        self.target_projector = copy.deepcopy(self.projector)
        for module in (self.target_encoder, self.target_projector):
            module.requires_grad_(False)
        for block in self.target_encoder.blocks:
            block.drop_path1 = block.drop_path2 = nn.Identity()
        self.loss_fn = InfoNCELoss(temperature)

    def ema_parameter_pairs(self) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """(target, online) trainable tensors of encoder and projector (BN running buffers are not averaged)."""
        return ema_parameter_pairs(((self.target_encoder, self.encoder), (self.target_projector, self.projector)))

    @torch.no_grad()
    def momentum_update(self, momentum: float) -> None:
        """``θ_target ← m·θ_target + (1−m)·θ_online`` in one fused multi-tensor lerp."""
        lerp_towards_online(*self.ema_parameter_pairs(), momentum)

    def query(self, view: torch.Tensor) -> torch.Tensor:
        """Online branch: predictor(projector(cls token)) ``[B, dim]``."""
        return self.predictor(self.projector(self.encoder.forward_features(view)[:, 0]))

    @torch.no_grad()
    def key(self, view: torch.Tensor) -> torch.Tensor:
        """Momentum branch: projector(cls token) ``[B, dim]``, no gradient."""
        return self.target_projector(self.target_encoder.forward_features(view)[:, 0])

    def forward(self,
                view1: torch.Tensor,
                view2: torch.Tensor,
                relpos: Optional[torch.Tensor] = None,
                mode: str = 'loss',
                **unused: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``mode='loss'`` returns ``{'loss': …}``; ``mode='tensor'`` the queries and keys of both crops.

        Takes the two-view pipeline's items; ``relpos`` and any mask fields are not used by MoCo-v3.
        """
        if mode not in ('loss', 'tensor'):
            raise ValueError(f"MoCoV3 supports mode='loss' or 'tensor', got {mode!r}")
        query1, query2 = self.query(view1), self.query(view2)
        key1, key2 = self.key(view1), self.key(view2)
        if mode == 'tensor':
            return dict(query1=query1, query2=query2, key1=key1, key2=key2)
        return dict(loss=self.loss_fn(query1, query2, key1, key2))
