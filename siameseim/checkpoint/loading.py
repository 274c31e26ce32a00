"""Loading a checkpoint into a ViT backbone, and the :class:`LoadReport` of what was loaded, resized and dropped.

The backbone is duck-typed (its sizes, ``pos_embed_grid``, ``grid_size``, ``num_prefix_tokens`` and state dict
describe what it expects), so this package never imports the model.
"""
import dataclasses
import os
import re
from collections import defaultdict
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from timm.layers import resample_patch_embed

from ..layers import rel_pos_bias_layout, resize_pos_embed_and_prefix, resize_rel_pos, resize_rel_pos_bias_table
from .arch import arch_label, check_architecture
from .canonical import to_canonical
from .errors import CheckpointError
from .formats import HEAD_KEY
from .reading import check_finite, read_checkpoint


@dataclasses.dataclass
class LoadReport:
    """What :func:`load_pretrained` did.

    ``missing`` maps each model key the checkpoint did not provide to the reason it is expected, or None when it
    is not; ``dropped`` maps each checkpoint key that was not loaded on purpose to the reason.
    """

    format: str
    source: Optional[str]
    loaded: List[str]
    missing: Dict[str, Optional[str]]
    unexpected: List[str]
    resized: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]]
    dropped: Dict[str, str]
    metadata: Dict[str, Any]
    adapted: Dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def unexplained_missing(self) -> List[str]:
        return [key for key, reason in self.missing.items() if reason is None]

    def __str__(self) -> str:
        return self.describe()

    def describe(self, limit: Optional[int] = 6) -> str:
        """The report; key patterns (block indices folded) are cut after ``limit`` per line, None lists all."""
        meta, arch = self.metadata, self.metadata['arch']
        expected = len(self.missing) - len(self.unexplained_missing)
        heads = (f"heads {arch['num_heads']} ({arch['num_heads_source']})" if arch['num_heads'] else 'heads unknown')
        source_note = f" (from {meta['source_format']})" if meta['source_format'] != self.format else ''
        resized = dict.fromkeys((_collapse([key])[0], old, new) for key, old, new in self.resized)
        lines = [
            f'checkpoint: {self.source or "<in-memory>"}',
            f'format: {self.format}{source_note}',
            f"architecture: {arch_label(arch['embed_dim'], arch['depth'])}, width {arch['embed_dim']}, "
            f"depth {arch['depth']}, {heads}, patch {arch['patch_size']}",
            f"position embedding: {meta['pos_embed_convention']}; input mean {meta['mean']}, std {meta['std']}",
            f'options: {_options_line(arch)}',
            *([f'backbone adapted to the checkpoint: {len(self.adapted)}'] if self.adapted else []),
            *(f'  {option}: {why}' for option, why in self.adapted.items()),
            f'loaded: {len(self.loaded)} tensors',
            f'resized: {len(self.resized)}',
            *(f'  {pattern}: {list(old)} -> {list(new)}' for pattern, old, new in resized),
            f'missing: {len(self.missing)} ({expected} expected)',
            *_grouped_lines(self.missing, lambda reason: f'expected, {reason}' if reason else 'NOT EXPECTED', limit),
            f'unexpected: {len(self.unexpected)}',
            *(f'  {pattern}' for pattern in _collapse(self.unexpected, None if limit is None else limit + 2)),
            f'dropped: {len(self.dropped)}',
            *_grouped_lines(self.dropped, str, limit),
        ]
        return '\n'.join(lines)


def _options_line(arch: Mapping[str, Any]) -> str:
    """The checkpoint's architecture options beyond the sizes, e.g. ``cls token, 4 register tokens, LayerScale``."""
    parts = ['cls token' if arch['cls_token'] else 'no cls token']
    parts += [f"{arch.get('num_reg_tokens')} register tokens"] if arch.get('num_reg_tokens') else []
    parts += ['LayerScale'] if arch['layer_scale'] else []
    parts += ['norm_pre'] if arch.get('norm_pre') else []
    parts += [f"{'SwiGLU ' if arch.get('mlp_layer') == 'swiglu' else ''}MLP x{arch['mlp_ratio']:g}"]
    parts += [f"activation {arch['act_layer']}"] if arch.get('act_layer') else []
    parts += [f"norm eps {arch['norm_eps']:g}"] if arch.get('norm_eps') else []
    parts += [] if arch.get('qkv_bias', True) else ['no qkv bias']
    return ', '.join(parts)


def _collapse(keys: Sequence[str], limit: Optional[int] = 8) -> List[str]:
    """Key patterns with block indices folded (``blocks.*.attn.qkv.weight``), in order, at most ``limit``
    (None: all)."""
    patterns = list(dict.fromkeys(re.sub(r'(blocks|layers)\.\d+\.', r'\1.*.', key) for key in keys))
    if limit is None or len(patterns) <= limit:
        return patterns
    return patterns[:limit] + [f'... {len(patterns) - limit} more']


def _grouped_lines(reasons: Mapping[str, Optional[str]], label: Callable[[Optional[str]], str],
                   limit: Optional[int] = 6) -> List[str]:
    """One line per reason: ``  <label> [count]: key patterns``."""
    groups: Dict[Optional[str], List[str]] = defaultdict(list)
    for key, reason in reasons.items():
        groups[reason].append(key)
    return [f"  {label(reason)} [{len(keys)}]: {', '.join(_collapse(keys, limit))}" for reason, keys in groups.items()]


def _model_lacks_reason(key: str) -> Optional[str]:
    """Why a checkpoint key the model has no slot for is dropped; None if the model should have had it."""
    if key == 'cls_token':
        return 'model has no cls token (cls_token=False)'
    if key == 'reg_token':
        return 'model has no register tokens (window attention and relative positions cannot take them)'
    if key == 'pos_embed':
        return "model has no absolute position embedding (pos_embed='none')"
    if key.startswith('norm.'):
        return 'model has no final norm (final_norm=False)'
    if key.endswith('.attn.relative_position_bias_table'):
        return 'model has no relative position bias (use_rel_pos_bias=False)'
    if key.endswith(('.attn.rel_pos_h', '.attn.rel_pos_w')):
        return 'model has no decomposed relative positions (use_rel_pos=False)'
    return None


def _expected_missing_reason(key: str, checkpoint_keys: Sequence[str], keep_head: bool) -> Optional[str]:
    """Why a model key absent from the checkpoint is expected (docs/method.md §6.7 rule 5); None if it is not."""
    def checkpoint_has(suffix: str) -> bool:
        return any(name.endswith(suffix) for name in checkpoint_keys)

    if key.startswith('norm.') and 'norm.weight' not in checkpoint_keys:
        return 'checkpoint has no final norm (e.g. SiameseIM): stays at identity init (docs/method.md §6.1)'
    if HEAD_KEY.match(key) and not keep_head:
        return 'classifier not requested (keep_head=False): keeps its fresh init'
    if key.endswith(('.attn.rel_pos_h', '.attn.rel_pos_w')) and not checkpoint_has('.attn.rel_pos_h'):
        return 'decomposed relative positions: zero init, not pretrained (ViTDet)'
    if key.endswith('.attn.relative_position_bias_table') and not checkpoint_has('relative_position_bias_table'):
        return 'relative position bias: zero init, not in the checkpoint (mmseg MAE recipe)'
    if key.endswith(('.ls1.gamma', '.ls2.gamma')) and not checkpoint_has('.ls1.gamma'):
        return 'LayerScale not in the checkpoint: keeps its init value'
    if key == 'pos_embed' and 'pos_embed' not in checkpoint_keys:
        return 'checkpoint has no absolute position embedding (BEiT): the model keeps its own table'
    if key == 'cls_token' and 'cls_token' not in checkpoint_keys:
        return 'checkpoint has no cls token (I-JEPA): keeps its init (adapt_to_pretrained removes it)'
    return None


def _resized_to_model(key: str, value: torch.Tensor, target_shape: Tuple[int, ...], arch: Mapping[str, Any],
                      model: nn.Module) -> Optional[torch.Tensor]:
    """``value`` resized to the model's ``target_shape`` when ``key`` is a position table, else None."""
    if key == 'pos_embed':
        if arch['pos_embed_grid'] is None:
            raise CheckpointError(f"cannot tell the grid of the checkpoint's pos_embed {list(value.shape)} (patch "
                                  f"rows not a square): convert it with siameseim-convert from a "
                                  f"checkpoint whose grid is known")
        resized = resize_pos_embed_and_prefix(value, arch['pos_embed_grid'], model.pos_embed_grid,
                                              arch['pos_embed_prefix'], model.num_prefix_tokens)
    elif key.endswith('.attn.relative_position_bias_table'):
        src_grid, num_extra = rel_pos_bias_layout(value)
        if src_grid is None or value.shape[1] != target_shape[1]:
            return None
        resized = resize_rel_pos_bias_table(value, src_grid, model.grid_size, num_extra,
                                            3 if model.num_prefix_tokens else 0)
    elif key.endswith(('.attn.rel_pos_h', '.attn.rel_pos_w')) and value.shape[1:] == target_shape[1:]:
        resized = resize_rel_pos(value, target_shape[0])
    elif key == 'patch_embed.proj.weight' and getattr(model, 'patch_embed_resample', False) \
            and value.shape[:2] == target_shape[:2]:
        # FlexiViT's pseudo-inverse resize, timm's implementation (as its checkpoint_filter_fn uses it)
        resized = resample_patch_embed(value.float(), list(target_shape[2:]), verbose=False).to(value.dtype)
    else:
        return None
    return resized if tuple(resized.shape) == tuple(target_shape) else None


def _adapt_to_model(state_dict: Dict[str, torch.Tensor], metadata: Mapping[str, Any], model: nn.Module,
                    dropped: Dict[str, str]) -> Tuple[Dict[str, torch.Tensor], List[tuple]]:
    """Drop what the model has no slot for and resize position tables to the model's grids."""
    model_shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    adapted, resized, mismatched = {}, [], []
    for key, value in state_dict.items():
        if key not in model_shapes:
            reason = _model_lacks_reason(key)
            if reason is not None:
                dropped[key] = reason
                continue
        elif tuple(value.shape) != model_shapes[key]:
            new_value = _resized_to_model(key, value, model_shapes[key], metadata['arch'], model)
            if new_value is None:
                mismatched.append(f'{key} {list(value.shape)} vs {list(model_shapes[key])}')
                continue
            resized.append((key, tuple(value.shape), tuple(new_value.shape)))
            value = new_value
        adapted[key] = value
    if mismatched:
        more = f' (and {len(mismatched) - 3} more)' if len(mismatched) > 3 else ''
        raise CheckpointError(f"checkpoint tensors do not fit the model: {'; '.join(mismatched[:3])}{more} "
                              f"(checkpoint vs model): build the backbone to match the checkpoint")
    return adapted, resized


def load_pretrained(model: nn.Module,
                    checkpoint: Union[str, os.PathLike, Mapping],
                    *,
                    keep_head: bool = False,
                    use_target_encoder: bool = False,
                    trust_pickle: bool = False,
                    strict: bool = False) -> LoadReport:
    """Load any supported checkpoint into a ViT backbone and report what happened.

    Canonicalises (:func:`to_canonical`), checks depth / width / heads / patch size against the model
    (:func:`check_architecture`), drops what the model has no slot for (cls token of a ViTDet backbone, final
    norm, relative position tables), resizes ``pos_embed`` to ``model.pos_embed_grid`` and
    ``model.num_prefix_tokens`` and relative position tables to ``model.grid_size``, then loads non-strictly.
    A BEiT checkpoint has no ``pos_embed``: a model with one keeps its own (reported as expected missing).

    Args:
        model: the backbone (duck-typed: ``embed_dim``, ``depth``, ``num_heads``, ``patch_size``,
            ``pos_embed_grid``, ``grid_size``, ``num_prefix_tokens``).
        checkpoint: a path, a loaded checkpoint or a state dict.
        strict: raise :class:`CheckpointError` when a missing key is not expected or a key is left unused.
    """
    source = os.fspath(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else None
    if source is not None:
        checkpoint = read_checkpoint(source, trust_pickle=trust_pickle)  # checks finiteness
    try:
        state_dict, metadata = to_canonical(checkpoint, keep_head=keep_head, use_target_encoder=use_target_encoder)
        check_architecture(metadata['arch'], embed_dim=model.embed_dim, depth=model.depth,
                           num_heads=model.num_heads, patch_size=model.patch_size,
                           resample_patch=getattr(model, 'patch_embed_resample', False))
        dropped = dict(metadata['dropped'])
        adapted, resized = _adapt_to_model(state_dict, metadata, model, dropped)
        if source is None:
            check_finite(adapted)
    except CheckpointError as err:
        raise CheckpointError(f'{source}: {err}' if source else str(err)) from None
    result = model.load_state_dict(adapted, strict=False)
    report = LoadReport(
        format=metadata['format'],
        source=source,
        loaded=[key for key in adapted if key not in result.unexpected_keys],
        missing={key: _expected_missing_reason(key, list(state_dict), keep_head) for key in result.missing_keys},
        unexpected=list(result.unexpected_keys),
        resized=resized,
        dropped=dropped,
        metadata=metadata,
        adapted=dict(getattr(model, 'adapted_options', {})))
    if strict and (report.unexplained_missing or report.unexpected):
        raise CheckpointError(
            f'{source or "checkpoint"}: strict load failed: {len(report.unexplained_missing)} unexpected missing '
            f'keys ({", ".join(_collapse(report.unexplained_missing, 3)) or "none"}) and {len(report.unexpected)} '
            f'unused keys ({", ".join(_collapse(report.unexpected, 3)) or "none"}): build the backbone to match '
            f'the checkpoint or load with strict=False')
    return report


__all__ = ['LoadReport', 'load_pretrained']
