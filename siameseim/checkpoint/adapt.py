"""The backbone options a checkpoint needs: what ``ViT(adapt_to_pretrained=True)`` takes from the checkpoint.

A recipe fixes sizes, attention layout and heads; the checkpoint fixes what its weights were trained with
(LayerScale, register tokens, ``norm_pre``, activation, MLP layout and width, qkv bias, LayerNorm epsilon, a cls
token or none, the patch size). :func:`backbone_options` returns the recipe's options with those changed and one
line per change, which the backbone keeps and the load report prints.
"""
import os
from typing import Any, Dict, Mapping, Tuple, Union

import torch

from .canonical import to_canonical
from .errors import CheckpointError
from .reading import read_checkpoint


def _read_arch(path: str) -> Dict[str, Any]:
    with torch.device('cpu'):  # also under a default-device context (a backbone built on 'meta')
        return to_canonical(read_checkpoint(path))[1]['arch']


def backbone_options(checkpoint: Union[str, os.PathLike], options: Mapping[str, Any], *, embed_dim: int,
                     resample_patch: bool, registers_fit: bool) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """``options`` changed where the checkpoint's architecture needs it, and why each changed.

    Args:
        checkpoint: the ``pretrained`` path; a file that does not exist or cannot be imported changes nothing
            (``init_weights`` reports the problem, in one line, where every load reports it).
        options: the recipe's ``patch_size``, ``cls_token``, ``global_pool``, ``layer_scale_init``,
            ``num_reg_tokens``, ``norm_pre``, ``act_layer``, ``mlp_layer``, ``mlp_ratio``, ``qkv_bias``,
            ``norm_eps``.
        embed_dim: the recipe's width; a checkpoint of another width changes nothing (the load names the
            backbone to build).
        resample_patch: the backbone resamples another patch size at load (dense recipes) instead of taking it.
        registers_fit: the attention can take register tokens (no window attention, no relative positions).
    """
    path = os.fspath(checkpoint)
    try:
        arch = _read_arch(path)
    except CheckpointError:
        return dict(options), {}
    if arch['embed_dim'] != embed_dim:
        return dict(options), {}
    new, why = dict(options), {}

    def change(option: str, value: Any, reason: str) -> None:
        if new[option] != value:
            new[option] = value
            why[option] = f'{value!r} ({reason})'

    if arch['patch_size'] != options['patch_size']:
        if resample_patch:
            why['patch_embed'] = (f"patch {arch['patch_size']} resampled to {options['patch_size']} at load "
                                  f"(the recipe's token grid is kept)")
        else:
            change('patch_size', arch['patch_size'], "the checkpoint's patch; the token grid follows from it")
    if not arch['cls_token'] and options['cls_token']:
        change('cls_token', False, 'checkpoint has no cls token')
        if options['global_pool'] == 'cls':
            change('global_pool', 'avg', 'no cls token: average of the patch tokens')
    if arch['layer_scale'] and options['layer_scale_init'] is None:
        change('layer_scale_init', 1.0, 'checkpoint has LayerScale; its values are loaded')
    if arch['num_reg_tokens'] and registers_fit:
        change('num_reg_tokens', arch['num_reg_tokens'], 'checkpoint has register tokens')
    if arch['norm_pre']:
        change('norm_pre', True, 'checkpoint has a norm before the blocks')
    if arch['act_layer'] is not None:
        change('act_layer', arch['act_layer'], "the source model's activation")
    if arch['norm_eps'] is not None:
        change('norm_eps', arch['norm_eps'], "the source model's LayerNorm epsilon")
    change('mlp_layer', arch['mlp_layer'], "the checkpoint's MLP layout")
    if round(embed_dim * options['mlp_ratio']) != round(embed_dim * arch['mlp_ratio']):
        change('mlp_ratio', arch['mlp_ratio'], "the checkpoint's MLP width")
    change('qkv_bias', arch['qkv_bias'], 'whether the checkpoint has a qkv bias')
    return new, why


__all__ = ['backbone_options']
