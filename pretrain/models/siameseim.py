"""SiameseIM meta-architecture: online branch on the masked view 1, momentum target branch on view 2.

With its defaults everything follows docs/method.md §1–§2: the online encoder sees only the visible tokens of
view 1; a projector (``decoder_embed`` + batch-norm blocks) and a predictor turn them into predictions for every
patch of view 2, queried through the relative position of view 2 in view 1's frame; the target is the momentum
encoder and projector on the full view 2; UniGrad compares the two.

The paper's ablation (docs/ablation.md) walks from MAE and MoCo-like instance discrimination to this design one
switch at a time; the model switches are ``target`` (momentum features or the target view's normalised
pixels), ``head`` (MAE-like projector/decoder with position queries, or MoCo-like per-token MLPs without
queries), ``loss`` (UniGrad or L2), ``loss_form`` (per token or on the pooled tokens) and ``loss_region``
(every view-2 patch or only those masked in view 1), plus the existing ``projector_norm``/``predictor_norm``.
The data switches (same or different views, colour augmentation, random or block-wise masks) live in the
data pipeline.
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

from ..losses import FeatureL2Loss, PixelL2Loss, UniGradLoss, normalize_patches
from .mae import patchify
from .mlp_head import MLPHead
from .momentum_branch import ema_parameter_pairs, lerp_towards_online
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
# Values of the ablation switches (docs/ablation.md); the first of each is the released setting.
SWITCHES: Dict[str, Tuple[str, ...]] = dict(
    target=('feature', 'pixel'),
    head=('mae', 'moco'),
    loss=('unigrad', 'l2'),
    loss_form=('dense', 'global'),
    loss_region=('all', 'masked'),
)


def check_switches(target: str, head: str, loss: str, loss_form: str, loss_region: str) -> None:
    """Raise one line for an unknown switch value or a combination the meta-architecture cannot express."""
    values = dict(target=target, head=head, loss=loss, loss_form=loss_form, loss_region=loss_region)
    for name, value in values.items():
        if value not in SWITCHES[name]:
            raise ValueError(f'SiameseIM {name} must be one of {SWITCHES[name]}, got {value!r}')
    if target == 'pixel' and (head, loss, loss_form) != ('mae', 'l2', 'dense'):
        raise ValueError("target='pixel' is MAE's reconstruction: it needs head='mae', loss='l2' and "
                         "loss_form='dense'")
    if head == 'moco' and loss_region == 'masked':
        raise ValueError("head='moco' predicts only the visible tokens of view 1, so loss_region='masked' has "
                         "nothing to compare: use loss_region='all'")


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
        projector_depth, predictor_depth: 2 and 4 blocks (with ``head='moco'``: the linear layers of the MLPs,
            3 and 2 as in MoCo-v3).
        projector_norm, predictor_norm: ``'bn'`` (released) or ``'ln'``.
        neg_weight: UniGrad λ.
        online_ln: LayerNorm (no affine) on the predictions before the loss.
        train_patch_embed: train the patch embedding (frozen by default, like MoCo-v3's stop-grad conv).
        target: ``'feature'`` (momentum encoder + projector on view 2, released) or ``'pixel'`` (view 2's
            patches, normalised per patch when ``norm_pix_loss``; no target branch).
        head: ``'mae'`` (released: ``decoder_embed`` + projector blocks, then predictor blocks over the visible
            tokens and one position query per view-2 patch) or ``'moco'`` (MoCo-v3's projector and predictor
            MLPs applied to every visible token, no queries; token ``t`` of view 1 is compared with token ``t``
            of view 2).
        loss: ``'unigrad'`` (released) or ``'l2'`` (UniGrad's positive term alone; MAE's MSE for pixels).
        loss_form: ``'dense'`` (per token, released) or ``'global'`` (on the token means).
        loss_region: ``'all'`` view-2 patches (released) or only those ``'masked'`` in view 1 (MAE's loss; with
            identical views these are the patches the encoder did not see).
        mlp_hidden_dim: hidden width of the MoCo-like MLPs (4096 in MoCo-v3).
        norm_pix_loss: normalise each target patch (``target='pixel'``), as MAE's released models.
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
                 target: str = 'feature',
                 head: str = 'mae',
                 loss: str = 'unigrad',
                 loss_form: str = 'dense',
                 loss_region: str = 'all',
                 mlp_hidden_dim: int = 4096,
                 norm_pix_loss: bool = True,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        check_switches(target, head, loss, loss_form, loss_region)
        self.target, self.head, self.loss_form, self.loss_region = target, head, loss_form, loss_region
        self.online_ln = online_ln
        self.norm_pix_loss = norm_pix_loss
        self.encoder = build_backbone(dict(encoder))
        if self.encoder.num_prefix_tokens != 1 or self.encoder.global_pool is not None:
            raise ValueError('the SiameseIM encoder needs cls_token=True and global_pool=None')
        grid = self.encoder.grid_size
        self.grid_size = grid
        self.decoder_dim = decoder_dim
        self.train_patch_embed = train_patch_embed
        self.encoder.patch_embed.requires_grad_(train_patch_embed)

        if head == 'mae':
            self.decoder_embed = nn.Linear(self.encoder.embed_dim, decoder_dim)
            self.projector = nn.ModuleList(
                _decoder_block(decoder_dim, decoder_num_heads, projector_norm) for _ in range(projector_depth))
            self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
            self.register_buffer('decoder_pos_embed', sincos_2d(decoder_dim, grid, num_prefix_tokens=1))
            self.decoder_pos_mlp = nn.Linear(2 * decoder_dim, decoder_dim)
            self.predictor = nn.ModuleList(
                _decoder_block(decoder_dim, decoder_num_heads, predictor_norm) for _ in range(predictor_depth))
            pred_dim = decoder_dim if target == 'feature' else self.encoder.patch_size**2 * 3
            self.decoder_pred = nn.Linear(decoder_dim, pred_dim)
            self._init_decoder()
        else:
            self.projector = MLPHead(projector_depth, self.encoder.embed_dim, mlp_hidden_dim, decoder_dim,
                                     projector_norm)
            self.predictor = MLPHead(predictor_depth, decoder_dim, mlp_hidden_dim, decoder_dim, predictor_norm)

        if target == 'feature':
            self.target_encoder = copy.deepcopy(self.encoder)
            if head == 'mae':
                self.target_decoder_embed = copy.deepcopy(self.decoder_embed)
            self.target_projector = copy.deepcopy(self.projector)
            for module in self.target_modules():
                module.requires_grad_(False)
            for block in self.target_encoder.blocks:
                block.drop_path1 = block.drop_path2 = nn.Identity()
        self.loss_fn = self._build_loss(loss, neg_weight, online_ln)

    def _build_loss(self, loss: str, neg_weight: float, online_ln: bool) -> nn.Module:
        """UniGrad (released), the feature L2, or MAE's pixel MSE for ``target='pixel'``."""
        if self.target == 'pixel':
            return PixelL2Loss()
        if loss == 'l2':
            return FeatureL2Loss(online_ln=online_ln)
        return UniGradLoss(neg_weight=neg_weight, online_ln=online_ln)

    def _init_decoder(self) -> None:
        """Xavier-uniform linears with zero bias, N(0, 0.02) mask token (docs/method.md §1.1)."""
        for module in (self.decoder_embed, self.projector, self.decoder_pos_mlp, self.predictor, self.decoder_pred):
            for sub in module.modules():
                if isinstance(sub, nn.Linear):
                    nn.init.xavier_uniform_(sub.weight)
                    nn.init.zeros_(sub.bias)
        nn.init.normal_(self.mask_token, std=0.02)

    def _ema_module_pairs(self) -> List[Tuple[nn.Module, nn.Module]]:
        """(target, online) modules of the momentum branch; none for ``target='pixel'``."""
        if self.target == 'pixel':
            return []
        pairs = [(self.target_encoder, self.encoder)]
        if self.head == 'mae':
            pairs.append((self.target_decoder_embed, self.decoder_embed))
        return pairs + [(self.target_projector, self.projector)]

    def target_modules(self) -> List[nn.Module]:
        """The momentum copies (encoder, ``decoder_embed`` with the MAE-like head, projector)."""
        return [target for target, _ in self._ema_module_pairs()]

    def ema_parameter_pairs(self) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """(target, online) tensors updated by EMA: cls token, blocks, decoder_embed, projector.

        BN running buffers are not averaged, and the frozen patch embedding and fixed positions are skipped
        (they stay identical), as in docs/method.md §1.6.
        """
        return ema_parameter_pairs(self._ema_module_pairs())

    @torch.no_grad()
    def momentum_update(self, momentum: float) -> None:
        """``θ_target ← m·θ_target + (1−m)·θ_online`` in one fused multi-tensor lerp."""
        lerp_towards_online(*self.ema_parameter_pairs(), momentum)

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

    def predict_visible(self, view1: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
        """MoCo-like online branch: projector and predictor MLPs on every visible token, ``[B, V, Dd]``."""
        tokens = self.encoder.forward_features(view1, ids_keep=ids_keep)[:, 1:]
        return self.predictor(self.projector(tokens))

    @torch.no_grad()
    def target_view2(self, view2: torch.Tensor) -> torch.Tensor:
        """The target of every view-2 patch in raster order: momentum projector tokens ``[B, L, Dd]`` (cls
        dropped), or with ``target='pixel'`` the patches ``[B, L, p·p·3]`` (normalised if ``norm_pix_loss``)."""
        if self.target == 'pixel':
            patches = patchify(view2, self.encoder.patch_size)
            return normalize_patches(patches) if self.norm_pix_loss else patches.float()
        tokens = self.target_encoder.forward_features(view2)
        if self.head == 'moco':
            return self.target_projector(tokens[:, 1:])
        tokens = self.target_decoder_embed(tokens)
        for block in self.target_projector:
            tokens = block(tokens, self.grid_size)
        return tokens[:, 1:]

    def compared_tokens(self, pred: torch.Tensor, target: torch.Tensor,
                        ids_keep: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The prediction and target tokens the loss compares, as ``[B, N, ·]`` pairs.

        The MoCo-like head predicts the visible view-1 tokens, so the target is taken at the same grid
        indices; ``loss_region='masked'`` keeps the view-2 patches masked in view 1 (raster order).
        """
        if self.head == 'moco':
            return pred, torch.gather(target, 1, ids_keep[..., None].expand(-1, -1, target.shape[-1]))
        if self.loss_region == 'masked':
            visible = torch.zeros(pred.shape[:2], dtype=torch.bool, device=pred.device).scatter_(1, ids_keep, True)
            num_masked = pred.shape[1] - ids_keep.shape[1]
            ids_masked = visible.to(torch.uint8).argsort(dim=1, stable=True)[:, :num_masked]
            pred = torch.gather(pred, 1, ids_masked[..., None].expand(-1, -1, pred.shape[-1]))
            target = torch.gather(target, 1, ids_masked[..., None].expand(-1, -1, target.shape[-1]))
        return pred, target

    def forward(self,
                view1: torch.Tensor,
                view2: torch.Tensor,
                relpos: torch.Tensor,
                mask: torch.Tensor,
                ids_keep: Optional[torch.Tensor] = None,
                mode: str = 'loss') -> Dict[str, torch.Tensor]:
        """``mode='loss'`` returns ``{'loss': …}``; ``mode='tensor'`` returns the compared predictions and
        targets (per token, before ``loss_form='global'`` pools them).

        ``ids_keep`` (the visible patches of ``mask``, from the data pipeline) keeps the step free of
        data-dependent shapes and host syncs, so ``torch.compile`` captures it whole; without it they are
        derived from ``mask`` here.
        """
        if mode not in ('loss', 'tensor'):
            raise ValueError(f"SiameseIM supports mode='loss' or 'tensor', got {mode!r}")
        ids_keep = self.visible_ids(mask) if ids_keep is None else ids_keep
        if self.head == 'mae':
            pred = self.predict_view2(view1, relpos, ids_keep)
        else:
            pred = self.predict_visible(view1, ids_keep)
        pred, target = self.compared_tokens(pred, self.target_view2(view2), ids_keep)
        if mode == 'tensor':
            return dict(pred=pred, target=target)
        if self.loss_form == 'global':
            pred, target = pred.mean(dim=1), target.mean(dim=1)
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
        if not self.online_ln:
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
