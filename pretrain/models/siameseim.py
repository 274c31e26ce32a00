"""SiameseIM meta-architecture: online branch on the masked view 1, momentum target branch on view 2.

Everything follows docs/method.md §1–§2: the online encoder sees only the visible tokens of view 1; a projector
(``decoder_embed`` + batch-norm blocks) and a predictor turn them into predictions for every patch of view 2,
queried through the relative position of view 2 in view 1's frame; the target is the momentum encoder and
projector on the full view 2; UniGrad compares the two.
"""
import copy
import functools
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModel

from siameseim.layers import Block, sincos_2d
from siameseim.models import build_backbone
from siameseim.registry import MODELS

from ..losses import UniGradLoss
from .relative_pos_embed import relative_query_pos_embed
from .token_batch_norm import TokenBatchNorm

# Official state-dict prefixes (models_sim.py) -> this model's module names.
OFFICIAL_PREFIXES: Tuple[Tuple[str, str], ...] = (
    ('mm_projector_decoder_blocks.', 'target_projector.'),
    ('mm_decoder_embed.', 'target_decoder_embed.'),
    ('mm_patch_embed.', 'target_encoder.patch_embed.'),
    ('mm_blocks.', 'target_encoder.blocks.'),
    ('mm_cls_token', 'target_encoder.cls_token'),
    ('projector_decoder_blocks.', 'projector.'),
    ('predictor_decoder_blocks.', 'predictor.'),
    ('patch_embed.', 'encoder.patch_embed.'),
    ('blocks.', 'encoder.blocks.'),
    ('cls_token', 'encoder.cls_token'),
    ('pos_embed', 'encoder.pos_embed'),
)
# The official ``--online_ln`` LayerNorm on the predictions; its affine is frozen at (1, 0).
STUDENT_NORM_KEYS: Tuple[str, str] = ('student_norm.weight', 'student_norm.bias')


def official_to_model_state_dict(official: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename an official SiameseIM pretraining state dict to this model's keys.

    ``mm_mask_token`` is dropped: the official code EMA-updates it but never uses it (docs/method.md §7 row 17).
    The target encoder shares ``pos_embed`` with the online one, so it is copied to both.
    """
    renamed = {}
    for key, value in official.items():
        if key == 'mm_mask_token':
            continue
        for old, new in OFFICIAL_PREFIXES:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        renamed[key] = value
    if 'encoder.pos_embed' in renamed:
        renamed['target_encoder.pos_embed'] = renamed['encoder.pos_embed']
    return renamed


def _decoder_block(dim: int, num_heads: int, norm: str) -> Block:
    if norm not in ('bn', 'ln'):
        raise ValueError(f"projector/predictor norm must be 'bn' or 'ln', got {norm!r}")
    norm_layer = TokenBatchNorm if norm == 'bn' else functools.partial(nn.LayerNorm, eps=1e-6)
    return Block(dim, num_heads, mlp_ratio=4.0, qkv_bias=True, norm_layer=norm_layer)


@MODELS.register_module()
class SiameseIM(BaseModel):
    """Siamese Image Modeling (Tao et al., CVPR 2023).

    Args:
        encoder: config of the shared :class:`~siameseim.models.ViT` (no final norm, cls token, fixed
            row-first sin-cos positions, as released).
        decoder_dim: width ``Dd`` of projector and predictor (768 in the released config).
        decoder_num_heads: heads of projector and predictor blocks (16).
        projector_depth, predictor_depth: 2 and 4 blocks.
        projector_norm, predictor_norm: ``'bn'`` (released) or ``'ln'``.
        neg_weight: UniGrad λ.
        online_ln: LayerNorm (no affine) on the predictions before the loss.
        train_patch_embed: train the patch embedding (frozen by default, like MoCo-v3's stop-grad conv).
    """

    def __init__(self,
                 encoder: dict,
                 decoder_dim: int = 768,
                 decoder_num_heads: int = 16,
                 projector_depth: int = 2,
                 predictor_depth: int = 4,
                 projector_norm: str = 'bn',
                 predictor_norm: str = 'bn',
                 neg_weight: float = 0.02,
                 online_ln: bool = False,
                 train_patch_embed: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.encoder = build_backbone(dict(encoder))
        if self.encoder.num_prefix_tokens != 1 or self.encoder.global_pool is not None:
            raise ValueError('the SiameseIM encoder needs cls_token=True and global_pool=None')
        grid = self.encoder.grid_size
        self.grid_size = grid
        self.decoder_dim = decoder_dim
        self.train_patch_embed = train_patch_embed
        self.encoder.patch_embed.requires_grad_(train_patch_embed)

        self.decoder_embed = nn.Linear(self.encoder.embed_dim, decoder_dim)
        self.projector = nn.ModuleList(
            _decoder_block(decoder_dim, decoder_num_heads, projector_norm) for _ in range(projector_depth))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.register_buffer('decoder_pos_embed', sincos_2d(decoder_dim, grid, num_prefix_tokens=1))
        self.decoder_pos_mlp = nn.Linear(2 * decoder_dim, decoder_dim)
        self.predictor = nn.ModuleList(
            _decoder_block(decoder_dim, decoder_num_heads, predictor_norm) for _ in range(predictor_depth))
        self.decoder_pred = nn.Linear(decoder_dim, decoder_dim)
        self._init_decoder()

        self.target_encoder = copy.deepcopy(self.encoder)
        self.target_decoder_embed = copy.deepcopy(self.decoder_embed)
        self.target_projector = copy.deepcopy(self.projector)
        for module in self.target_modules():
            module.requires_grad_(False)
        for block in self.target_encoder.blocks:
            block.drop_path1 = block.drop_path2 = nn.Identity()
        self.loss_fn = UniGradLoss(neg_weight=neg_weight, online_ln=online_ln)

    def _init_decoder(self) -> None:
        """Xavier-uniform linears with zero bias, N(0, 0.02) mask token (docs/method.md §1.1)."""
        for module in (self.decoder_embed, self.projector, self.decoder_pos_mlp, self.predictor, self.decoder_pred):
            for sub in module.modules():
                if isinstance(sub, nn.Linear):
                    nn.init.xavier_uniform_(sub.weight)
                    nn.init.zeros_(sub.bias)
        nn.init.normal_(self.mask_token, std=0.02)

    def target_modules(self) -> List[nn.Module]:
        return [self.target_encoder, self.target_decoder_embed, self.target_projector]

    def ema_parameter_pairs(self) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """(target, online) tensors updated by EMA: cls token, blocks, decoder_embed, projector.

        BN running buffers are not averaged, and the frozen patch embedding and fixed positions are skipped
        (they stay identical), as in docs/method.md §1.6.
        """
        targets, onlines = [], []
        pairs = ((self.target_encoder, self.encoder), (self.target_decoder_embed, self.decoder_embed),
                 (self.target_projector, self.projector))
        for target_module, online_module in pairs:
            for target, online in zip(target_module.parameters(), online_module.parameters()):
                if online.requires_grad:
                    targets.append(target)
                    onlines.append(online)
        return targets, onlines

    @torch.no_grad()
    def momentum_update(self, momentum: float) -> None:
        """``θ_target ← m·θ_target + (1−m)·θ_online`` in one fused multi-tensor lerp."""
        targets, onlines = self.ema_parameter_pairs()
        torch._foreach_lerp_(targets, onlines, 1.0 - momentum)

    def visible_ids(self, mask: torch.Tensor) -> torch.Tensor:
        """Raster indices ``[B, V]`` of the unmasked patches; every sample must mask the same count."""
        visible = ~mask.flatten(1).bool()
        counts = visible.sum(1)
        if not bool((counts == counts[0]).all()):
            raise ValueError('every sample must mask the same number of patches (use the fixed-count mask generator)')
        return visible.nonzero()[:, 1].reshape(mask.shape[0], -1)

    def predict_view2(self, view1: torch.Tensor, relpos: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
        """Online branch: predictions ``[B, L, Dd]`` for every patch of view 2 (raster order), from the visible
        view-1 patches ``ids_keep [B, V]``."""
        tokens = self.decoder_embed(self.encoder.forward_features(view1, ids_keep=ids_keep))
        for block in self.projector:
            tokens = block(tokens, self.grid_size)
        pos = self.decoder_pos_embed.to(tokens.dtype)
        visible_pos = torch.gather(pos[:, 1:].expand(tokens.shape[0], -1, -1), 1,
                                   ids_keep[..., None].expand(-1, -1, self.decoder_dim))
        query_pos = relative_query_pos_embed(relpos, self.grid_size[0], self.decoder_dim)
        queries = self.mask_token + self.decoder_pos_mlp(query_pos.to(tokens.dtype))
        tokens = torch.cat([tokens[:, :1] + pos[:, :1], tokens[:, 1:] + visible_pos, queries.to(tokens.dtype)], 1)
        for block in self.predictor:
            tokens = block(tokens, self.grid_size)
        return self.decoder_pred(tokens[:, -queries.shape[1]:])

    @torch.no_grad()
    def target_view2(self, view2: torch.Tensor) -> torch.Tensor:
        """Target branch on the full view 2: projector tokens ``[B, L, Dd]`` (cls dropped)."""
        tokens = self.target_decoder_embed(self.target_encoder.forward_features(view2))
        for block in self.target_projector:
            tokens = block(tokens, self.grid_size)
        return tokens[:, 1:]

    def forward(self,
                view1: torch.Tensor,
                view2: torch.Tensor,
                relpos: torch.Tensor,
                mask: torch.Tensor,
                ids_keep: Optional[torch.Tensor] = None,
                mode: str = 'loss') -> Dict[str, torch.Tensor]:
        """``mode='loss'`` returns ``{'loss': …}``; ``mode='tensor'`` returns predictions and targets.

        ``ids_keep`` (the visible patches of ``mask``, from the data pipeline) keeps the step free of
        data-dependent shapes and host syncs, so ``torch.compile`` captures it whole; without it they are
        derived from ``mask`` here.
        """
        pred = self.predict_view2(view1, relpos, self.visible_ids(mask) if ids_keep is None else ids_keep)
        target = self.target_view2(view2)
        if mode == 'tensor':
            return dict(pred=pred, target=target)
        if mode != 'loss':
            raise ValueError(f"SiameseIM supports mode='loss' or 'tensor', got {mode!r}")
        return dict(loss=self.loss_fn(pred, target))

    def load_official_state_dict(self, official: Dict[str, torch.Tensor]) -> None:
        """Load an official SiameseIM pretraining state dict in full (online, projector, predictor, target).

        A checkpoint trained with ``--online_ln`` also holds ``student_norm.weight/bias``: the official
        LayerNorm's affine is frozen at (1, 0), so they carry no information and are checked, not loaded (this
        model's online LayerNorm has no affine); they require ``online_ln=True``.
        """
        official = dict(official)
        self._check_student_norm({key: official.pop(key) for key in STUDENT_NORM_KEYS if key in official})
        renamed = official_to_model_state_dict(official)
        missing, unexpected = self.load_state_dict(renamed, strict=False)
        if missing or unexpected:
            raise ValueError(f'official SiameseIM checkpoint does not match this model: missing {missing[:5]}, '
                             f'unexpected {unexpected[:5]}: build the model with the checkpoint\'s arch '
                             f'and decoder width')

    def _check_student_norm(self, norm: Dict[str, torch.Tensor]) -> None:
        """Raise one line unless ``norm`` is empty or the official frozen (1, 0) affine of width ``decoder_dim``."""
        if not norm:
            return
        if not self.loss_fn.online_ln:
            raise ValueError('official SiameseIM checkpoint was trained with --online_ln (it holds '
                             'student_norm.weight/bias): build the model with online_ln=True')
        absent = [key for key in STUDENT_NORM_KEYS if key not in norm]
        if absent:
            raise ValueError(f'official SiameseIM checkpoint holds only part of student_norm ({absent[0]} is '
                             f'missing): the file is incomplete, re-export it')
        for key, identity in zip(STUDENT_NORM_KEYS, (1.0, 0.0)):
            value = norm[key]
            if tuple(value.shape) != (self.decoder_dim, ):
                raise ValueError(f'official SiameseIM checkpoint {key} has shape {tuple(value.shape)}, this model '
                                 f'({self.decoder_dim}, ): build the model with the checkpoint\'s decoder width')
            if not torch.all(value == identity):
                raise ValueError(f'official SiameseIM checkpoint {key} is not the frozen {identity:g} of the official '
                                 f'--online_ln LayerNorm: its affine was trained, which this model cannot represent')
