"""Architecture of a canonical state dict, and the check that it fits the backbone to load it into.

Sizes come from tensor shapes and options from which keys exist; heads cannot be read from weights and come from
the caller, a relative position bias table, the model name stored with the weights or the preset of that width.
"""
import argparse
import re
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import torch

from ..layers import rel_pos_bias_layout
from ..models.presets import ARCHS
from .detect import pos_embed_layout
from .errors import CheckpointError


def preset_name(embed_dim: int, depth: int) -> Optional[str]:
    """Name of the :data:`~siameseim.models.presets.ARCHS` preset with this width and depth, if any."""
    return next((name for name, arch in ARCHS.items()
                 if (arch['embed_dim'], arch['depth']) == (embed_dim, depth)), None)


def arch_label(embed_dim: int, depth: int) -> str:
    """``ViT-B`` style label of the preset with this width and depth, for messages and reports."""
    name = preset_name(embed_dim, depth)
    return f'ViT-{name[0].upper()}' if name else 'ViT, no preset'


def _heads_from_name(name: Any, embed_dim: int) -> Optional[int]:
    """Heads of the preset a model name refers to (``sim_vit_base_patch16``, ``vit_large``), if widths agree."""
    match = re.search(r'(tiny|small|base|large|huge)', str(name).lower())
    if match is None or ARCHS[match.group(1)]['embed_dim'] != embed_dim:
        return None
    return ARCHS[match.group(1)]['num_heads']


def stored_model_name(checkpoint: Mapping) -> Optional[str]:
    """Model name stored next to the weights: ``args.model`` (MAE-style, DeiT, BEiT) or ``arch`` (MoCo, timm)."""
    args = checkpoint.get('args')
    for name in (getattr(args, 'model', None) if isinstance(args, argparse.Namespace) else None,
                 checkpoint.get('arch')):
        if isinstance(name, str):
            return name
    return None


def infer_arch(state_dict: Mapping[str, torch.Tensor], *, num_heads: Optional[int] = None,
               name_hint: Optional[str] = None, pos_embed_grid: Optional[Sequence[int]] = None) -> Dict[str, Any]:
    """Architecture of a canonical state dict: sizes from shapes, options from which keys exist.

    Heads cannot be read from weights: they come from ``num_heads``, a relative position bias table (one column
    per head), the model name stored with the weights, or the preset of that width (``num_heads_source`` says
    which; None when none applies).
    """
    embed_dim, in_chans, patch_h, patch_w = state_dict['patch_embed.proj.weight'].shape
    block_ids = [int(m.group(1)) for m in map(re.compile(r'^blocks\.(\d+)\.').match, state_dict) if m]
    depth = 1 + max(block_ids)
    fc1 = state_dict.get('blocks.0.mlp.fc1.weight')
    table = next((value for key, value in state_dict.items() if key.endswith('relative_position_bias_table')), None)
    heads_source = 'given'
    if num_heads is None and table is not None:
        num_heads, heads_source = table.shape[1], 'relative position bias table'
    if num_heads is None and name_hint is not None:
        num_heads, heads_source = _heads_from_name(name_hint, embed_dim), f'model name {name_hint!r}'
    if num_heads is None:
        preset = next((arch for arch in ARCHS.values() if arch['embed_dim'] == embed_dim), None)
        num_heads, heads_source = (preset['num_heads'], 'preset of that width') if preset else (None, None)
    prefix, grid = pos_embed_layout(state_dict, pos_embed_grid) if 'pos_embed' in state_dict else (0, None)
    head = state_dict.get('head.weight')
    return {
        'name': preset_name(embed_dim, depth),
        'embed_dim': int(embed_dim),
        'depth': depth,
        'num_heads': num_heads,
        'num_heads_source': heads_source,
        'patch_size': int(patch_h) if patch_h == patch_w else (int(patch_h), int(patch_w)),
        'in_chans': int(in_chans),
        'mlp_ratio': fc1.shape[0] / embed_dim if fc1 is not None else 4.0,
        'cls_token': 'cls_token' in state_dict,
        'pos_embed': 'pos_embed' in state_dict,
        'pos_embed_prefix': prefix,
        'pos_embed_grid': grid,
        'layer_scale': any(key.endswith('.ls1.gamma') for key in state_dict),
        'rel_pos_bias_grid': rel_pos_bias_layout(table)[0] if table is not None else None,
        'rel_pos': any(key.endswith('.attn.rel_pos_h') for key in state_dict),
        'final_norm': 'norm.weight' in state_dict,
        'fc_norm': 'fc_norm.weight' in state_dict,
        'num_classes': int(head.shape[0]) if head is not None else 0,
    }


def check_architecture(arch: Mapping[str, Any], *, embed_dim: int, depth: int, num_heads: int,
                       patch_size: Union[int, Sequence[int]]) -> None:
    """Raise :class:`CheckpointError` naming the backbone to build when the checkpoint's sizes differ."""
    if (arch['depth'], arch['embed_dim']) != (depth, embed_dim):
        name = preset_name(arch['embed_dim'], arch['depth'])
        if name is not None:
            build = f"arch='{name}'"
            if arch['patch_size'] != ARCHS[name]['patch_size']:
                build += f", patch_size={arch['patch_size']}"
        else:
            build = (f"arch=None, embed_dim={arch['embed_dim']}, depth={arch['depth']}, "
                     f"num_heads={arch['num_heads'] or '<heads>'}")
        raise CheckpointError(
            f"checkpoint has depth {arch['depth']} / width {arch['embed_dim']} "
            f"({arch_label(arch['embed_dim'], arch['depth'])}) but the model is depth {depth} / width {embed_dim} "
            f"({arch_label(embed_dim, depth)}): build the backbone with {build}")
    if arch['patch_size'] != patch_size:
        raise CheckpointError(f"checkpoint has patch size {arch['patch_size']} but the model has {patch_size}: "
                              f"build the backbone with patch_size={arch['patch_size']}")
    if arch['num_heads'] is not None and arch['num_heads_source'] != 'preset of that width' \
            and arch['num_heads'] != num_heads:
        raise CheckpointError(f"checkpoint has {arch['num_heads']} heads (from its {arch['num_heads_source']}) but "
                              f"the model has {num_heads}: build the backbone with num_heads={arch['num_heads']}")


__all__ = ['infer_arch', 'check_architecture']
