"""Layer-wise learning-rate decay (BEiT / MAE / ViTDet) for every task of the suite.

:func:`layer_decay_param_groups` builds the parameter groups from any model that contains a ViT backbone;
:class:`LayerDecayOptimWrapperConstructor` plugs it into mmengine configs::

    optim_wrapper = dict(
        type='AmpOptimWrapper',
        constructor='siameseim.LayerDecayOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
        paramwise_cfg=dict(layer_decay_rate=0.65))

Importing this module also registers :class:`~siameseim.lars.LARS` (the registry's ``locations`` point here).
"""
from fnmatch import fnmatchcase
from typing import Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor

from .lars import LARS
from .registry import OPTIM_WRAPPER_CONSTRUCTORS

DEFAULT_NO_DECAY_NAMES: Tuple[str, ...] = ('pos_embed', 'cls_token', 'dist_token', 'relative_position_bias_table',
                                           'rel_pos_h', 'rel_pos_w')
PARAMWISE_KEYS = ('layer_decay_rate', 'num_layers', 'no_decay_names', 'decay_norm_and_bias')


def is_vit_backbone(module: nn.Module) -> bool:
    """Duck-typed ViT test: a ``blocks`` ModuleList/Sequential next to a ``patch_embed``.

    Matches :class:`siameseim.models.ViT` and timm/MAE-style ViTs without importing any of them, so this
    module does not depend on model import order.
    """
    return isinstance(getattr(module, 'blocks', None), (nn.ModuleList, nn.Sequential)) and \
        isinstance(getattr(module, 'patch_embed', None), nn.Module)


def find_vit_backbone(model: nn.Module) -> Tuple[str, nn.Module]:
    """The first ViT in ``model.named_modules()`` order (``model`` itself included) and its name prefix.

    The prefix is ``''`` for a bare ViT and ``'backbone.'`` for an mmdet/mmseg model; a model with two ViTs
    (online and momentum encoder) gets layer decay on the first only.
    """
    for name, module in model.named_modules():
        if is_vit_backbone(module):
            return (f'{name}.' if name else ''), module
    raise ValueError(f'no ViT backbone (a module with a `blocks` ModuleList and a `patch_embed`) found in '
                     f'{type(model).__name__}: build the model around siameseim.ViT, or use '
                     f"mmengine's DefaultOptimWrapperConstructor for models without one")


def get_layer_id(backbone_name: str, num_layers: int) -> int:
    """Layer id of a parameter named relative to the backbone.

    ``patch_embed.*``, ``norm_pre.*`` (CLIP) and tensors held by the backbone itself (``cls_token``,
    ``reg_token``, ``pos_embed``, ``mask_token``, ``dist_token``) → 0; ``blocks.k.*`` → k + 1; anything else
    (``norm``, ``fc_norm``, ``head``) → ``num_layers + 1``, the id of every parameter outside the backbone too.
    """
    parts = backbone_name.split('.')
    if parts[0] == 'blocks':
        return int(parts[1]) + 1
    if parts[0] in ('patch_embed', 'norm_pre') or len(parts) == 1:
        return 0
    return num_layers + 1


def matches_name(name: str, pattern: str) -> bool:
    """True when ``pattern`` matches a run of whole dot-separated components of ``name``.

    ``'pos_embed'`` matches ``backbone.pos_embed`` but not ``backbone.pos_embed_proj.weight``; shell
    wildcards are allowed (``'blocks.*.norm*'`` matches ``backbone.blocks.3.norm1.weight``).
    """
    return fnmatchcase(f'.{name}.', f'*.{pattern}.*')


def check_layer_decay_args(layer_decay_rate: float, num_layers: Optional[int],
                           no_decay_names: Sequence[str]) -> None:
    """Raise a one-line ValueError naming the bad value and the fix."""
    if not 0 < layer_decay_rate <= 1:
        raise ValueError(f'layer_decay_rate={layer_decay_rate} is outside (0, 1]: use e.g. 0.65, '
                         f'or 1.0 for no layer decay')
    if num_layers is not None and num_layers < 1:
        raise ValueError(f'num_layers={num_layers} must be >= 1: leave it None to use the number of '
                         f'backbone blocks')
    if isinstance(no_decay_names, str):
        raise ValueError(f'no_decay_names must be a sequence of names, got the string {no_decay_names!r}: '
                         f'write ({no_decay_names!r}, )')


def layer_decay_param_groups(model: nn.Module,
                             base_lr: float,
                             weight_decay: Optional[float],
                             layer_decay_rate: float,
                             num_layers: Optional[int] = None,
                             no_decay_names: Sequence[str] = DEFAULT_NO_DECAY_NAMES,
                             decay_norm_and_bias: bool = False) -> List[dict]:
    """One parameter group per (layer id, decayed or not) over the trainable parameters of ``model``.

    Each group holds ``params``, ``param_names``, ``lr = base_lr * layer_decay_rate ** (num_layers + 1 - id)``,
    ``weight_decay`` (0 for exempt parameters; left to the optimizer's default when ``weight_decay`` is None)
    and, for logging, ``lr_scale`` and ``layer_id``. Groups are sorted by descending layer id, so the first
    group — the one mmengine logs as ``lr`` — carries the unscaled learning rate of neck and heads.

    Args:
        model: any module containing a ViT (see :func:`find_vit_backbone`).
        base_lr: learning rate of the last layer id (neck, heads, backbone head/norms).
        weight_decay: weight decay of decayed parameters.
        layer_decay_rate: per-layer lr factor in (0, 1]; 1 disables layer decay.
        num_layers: defaults to the number of backbone blocks.
        no_decay_names: parameters matching any of these (:func:`matches_name`) get no weight decay.
        decay_norm_and_bias: also decay 1-D parameters and biases (ViTDet); by default they get none.
    """
    check_layer_decay_args(layer_decay_rate, num_layers, no_decay_names)
    prefix, backbone = find_vit_backbone(model)
    num_blocks = len(backbone.blocks)
    num_layers = num_blocks if num_layers is None else num_layers
    if num_layers < num_blocks:
        raise ValueError(f'num_layers={num_layers} is fewer than the {num_blocks} blocks of the backbone: '
                         f'leave num_layers=None to use the number of blocks')
    groups: Dict[Tuple[int, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        in_backbone = name.startswith(prefix)
        layer_id = get_layer_id(name[len(prefix):], num_layers) if in_backbone else num_layers + 1
        exempt = any(matches_name(name, pattern) for pattern in no_decay_names) or \
            (not decay_norm_and_bias and (param.ndim <= 1 or name.endswith('.bias')))
        group = groups.get((layer_id, exempt))
        if group is None:
            lr_scale = layer_decay_rate**(num_layers + 1 - layer_id)
            group = dict(params=[], param_names=[], lr=base_lr * lr_scale, lr_scale=lr_scale, layer_id=layer_id)
            if exempt or weight_decay is not None:
                group['weight_decay'] = 0.0 if exempt else weight_decay
            groups[layer_id, exempt] = group
        group['params'].append(param)
        group['param_names'].append(name)
    return [groups[key] for key in sorted(groups, key=lambda key: (-key[0], key[1]))]


def format_param_groups(groups: Sequence[dict]) -> str:
    """Table of layer id, lr scale and parameter counts per weight decay, one row per layer id."""
    rows: Dict[int, Dict[str, object]] = {}
    decays = sorted({str(group.get('weight_decay', 'default')) for group in groups}, reverse=True)
    for group in groups:
        row = rows.setdefault(group['layer_id'], dict(lr_scale=group['lr_scale']))
        row[str(group.get('weight_decay', 'default'))] = sum(param.numel() for param in group['params'])
    header = f'{"layer":>5}  {"lr scale":>10}' + ''.join(f'  {"#params wd " + decay:>16}' for decay in decays)
    lines = [header]
    for layer_id, row in rows.items():
        counts = ''.join(f'  {row.get(decay, 0):>16,}' for decay in decays)
        lines.append(f'{layer_id:>5}  {row["lr_scale"]:>10.4g}{counts}')
    return '\n'.join(lines)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine optimizer-wrapper constructor applying :func:`layer_decay_param_groups`.

    ``paramwise_cfg`` keys (no others are accepted, so a misspelt key such as mmdet's ``decay_rate`` fails
    loudly instead of being ignored):

    - ``layer_decay_rate`` (required): lr factor per layer, in (0, 1].
    - ``num_layers``: defaults to the number of backbone blocks.
    - ``no_decay_names``: names exempt from weight decay, matched as whole dotted components with shell
      wildcards; default :data:`DEFAULT_NO_DECAY_NAMES`.
    - ``decay_norm_and_bias``: decay 1-D parameters and biases too (default False).

    Values that reproduce each recipe (``default`` = :data:`DEFAULT_NO_DECAY_NAMES`; "docs" is the section of
    ``docs/method.md`` or ``docs/protocols.md`` that states it):

    ==========================  ==============  ====  ===================================  ===================
    recipe                      docs            rate  no_decay_names                       decay_norm_and_bias
    ==========================  ==============  ====  ===================================  ===================
    SiameseIM pretraining       method §3.4     1.0   ``()``: cls/mask tokens decayed      False
    ImageNet fine-tuning (MAE)  method §5.1     0.65  default                              False
    ADE20k UperNet (mmseg)      protocols §3.5  0.65  ``()``: pos/cls/rel-pos decayed      False
    COCO/LVIS ViTDet            protocols §1.5  0.7   ``('pos_embed', 'blocks.*.norm*')``  True
    ==========================  ==============  ====  ===================================  ===================

    The default ``no_decay_names`` on the ADE20k recipe is the corrected variant docs/protocols.md §3.5 allows
    (record it when used). mmengine's schedulers rescale every group's lr by the same factor, so the layer
    ratios survive warmup, step, poly (``eta_min=0``) and cosine schedules; give cosine a floor with
    ``eta_min_ratio`` (MAE's ``min_lr`` is scaled per layer the same way), not the absolute ``eta_min``.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        unknown = sorted(set(self.paramwise_cfg) - set(PARAMWISE_KEYS))
        if unknown:
            raise ValueError(f'unknown paramwise_cfg keys {unknown} for LayerDecayOptimWrapperConstructor: '
                             f'use only {list(PARAMWISE_KEYS)}')
        rate = self.paramwise_cfg.get('layer_decay_rate')
        if rate is None:
            raise ValueError('paramwise_cfg.layer_decay_rate is required: e.g. 0.65 (ImageNet, ADE20k), '
                             '0.7 (ViTDet) or 1.0 for no layer decay')
        check_layer_decay_args(rate, self.paramwise_cfg.get('num_layers'),
                               self.paramwise_cfg.get('no_decay_names', DEFAULT_NO_DECAY_NAMES))
        if self.base_lr is None:
            raise ValueError('optimizer.lr is required by LayerDecayOptimWrapperConstructor: set the base lr '
                             'that neck and heads use')

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   is_dcn_module: Optional[int] = None) -> None:
        """Append the layer-decay groups of ``module`` to ``params`` and log a summary of them.

        Called once with the whole model by ``__call__``; ``prefix`` and ``is_dcn_module`` belong to the
        parent's recursive signature and are not used.
        """
        cfg = self.paramwise_cfg
        groups = layer_decay_param_groups(
            module,
            base_lr=self.base_lr,
            weight_decay=self.base_wd,
            layer_decay_rate=cfg['layer_decay_rate'],
            num_layers=cfg.get('num_layers'),
            no_decay_names=tuple(cfg.get('no_decay_names', DEFAULT_NO_DECAY_NAMES)),
            decay_norm_and_bias=cfg.get('decay_norm_and_bias', False))
        print_log(
            f'Layer-wise lr decay {cfg["layer_decay_rate"]}, base lr {self.base_lr}, parameter groups:\n'
            f'{format_param_groups(groups)}',
            logger='current')
        params.extend(groups)


__all__ = [
    'DEFAULT_NO_DECAY_NAMES', 'LARS', 'LayerDecayOptimWrapperConstructor', 'check_layer_decay_args',
    'find_vit_backbone', 'format_param_groups', 'get_layer_id', 'is_vit_backbone', 'layer_decay_param_groups',
    'matches_name'
]
