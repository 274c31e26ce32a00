"""Any supported checkpoint -> the canonical backbone state dict and its metadata, and the suite's own format.

:func:`to_canonical` detects the format, applies that format's converter, keeps the backbone (and on request the
classifier), infers the architecture and records why every other key was dropped. :func:`converted_checkpoint`
stores the result as the suite's converted format, which :func:`to_canonical` reads back as is.
"""
from typing import Any, Dict, Mapping, Tuple

import torch

from .arch import infer_arch, stored_model_name
from .converters import CONVERTERS, TARGET_ENCODER_FORMATS
from .detect import detect_format, sincos_convention
from .errors import CheckpointError
from .formats import FORMATS, SUITE_FORMAT, SUITE_FORMAT_VERSION, is_suite_checkpoint, select_backbone, unwrap


def _suite_to_canonical(checkpoint: Mapping, keep_head: bool,
                        use_target_encoder: bool) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    meta = checkpoint['meta']
    if meta.get('version', 0) > SUITE_FORMAT_VERSION:
        raise CheckpointError(f"checkpoint was written by a newer SiameseIM Suite (format version "
                              f"{meta.get('version')} > {SUITE_FORMAT_VERSION}): update the suite")
    if use_target_encoder:
        raise CheckpointError('checkpoint is already converted (one encoder): convert the source checkpoint '
                              'again with --target-encoder / use_target_encoder=True')
    dropped: Dict[str, str] = {}
    state_dict = select_backbone(checkpoint['state_dict'], keep_head, dropped)
    stored = meta.get('arch') or {}
    arch = infer_arch(state_dict, num_heads=stored.get('num_heads'), pos_embed_grid=stored.get('pos_embed_grid'))
    if stored.get('num_heads') is not None:
        arch['num_heads_source'] = stored.get('num_heads_source') or 'converter metadata'
    metadata = {
        'format': SUITE_FORMAT,
        'source_format': meta.get('source_format', SUITE_FORMAT),
        'pos_embed_convention': meta.get('pos_embed_convention', 'learned' if arch['pos_embed'] else 'none'),
        'mean': meta.get('mean'),
        'std': meta.get('std'),
        'arch': arch,
        'dropped': dropped,
    }
    return state_dict, metadata


def to_canonical(checkpoint: Mapping,
                 *,
                 keep_head: bool = False,
                 use_target_encoder: bool = False) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    """Canonical backbone state dict (docs/method.md §6 names) and metadata of any supported checkpoint.

    Args:
        checkpoint: a loaded checkpoint (:func:`read_checkpoint`) or a bare state dict.
        keep_head: keep ``fc_norm.*`` and ``head.*`` (the fine-tuned classifier, e.g. for robustness evaluation).
        use_target_encoder: take the SiameseIM target encoder (``mm_*``) or the MoCo-v3 momentum encoder.

    Returns:
        The state dict and ``{'format', 'source_format', 'pos_embed_convention', 'mean', 'std', 'arch',
        'dropped'}``: ``arch`` from :func:`infer_arch`, ``dropped`` maps every removed key to the reason.
    """
    if is_suite_checkpoint(checkpoint):
        return _suite_to_canonical(checkpoint, keep_head, use_target_encoder)
    fmt = detect_format(checkpoint)
    state_dict, _ = unwrap(checkpoint)
    dropped: Dict[str, str] = {}
    if use_target_encoder and fmt not in TARGET_ENCODER_FORMATS:
        raise CheckpointError(f'a {fmt} checkpoint has no target encoder: only SiameseIM pretraining (mm_*) and '
                              f'MoCo-v3 (momentum_encoder) checkpoints do; drop --target-encoder')
    if fmt in CONVERTERS:
        state_dict = CONVERTERS[fmt](state_dict, dropped, use_target_encoder)
    state_dict = select_backbone(state_dict, keep_head, dropped)
    if 'patch_embed.proj.weight' not in state_dict or not any(key.startswith('blocks.') for key in state_dict):
        raise CheckpointError(f'{fmt} checkpoint has no complete ViT backbone after conversion (patch_embed.proj '
                              f'or blocks missing): the file is incomplete or not a ViT')
    arch = infer_arch(state_dict, name_hint=stored_model_name(checkpoint))
    default_convention, mean, std = FORMATS[fmt]
    if not arch['pos_embed']:
        convention = 'none'
    else:
        convention = sincos_convention(state_dict['pos_embed'], arch['pos_embed_prefix'], arch['pos_embed_grid'])
        convention = convention or default_convention
    metadata = {
        'format': fmt,
        'source_format': fmt,
        'pos_embed_convention': convention,
        'mean': mean,
        'std': std,
        'arch': arch,
        'dropped': dropped,
    }
    return state_dict, metadata


def converted_checkpoint(state_dict: Mapping[str, torch.Tensor], metadata: Mapping[str, Any]) -> dict:
    """The suite's own format: ``{'state_dict': canonical, 'meta': {'format': 'siameseim-suite', ...}}``."""
    meta = {key: metadata[key] for key in ('source_format', 'pos_embed_convention', 'mean', 'std', 'arch')}
    return {'state_dict': dict(state_dict), 'meta': {'format': SUITE_FORMAT, 'version': SUITE_FORMAT_VERSION, **meta}}


__all__ = ['to_canonical', 'converted_checkpoint']
