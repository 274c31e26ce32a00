"""Checkpoint import: read any supported ViT checkpoint, map it onto the canonical backbone, load it.

Pipeline (docs/method.md §6.7): :func:`read_checkpoint` (safe unpickling on CPU) → :func:`to_canonical` (detect the
format, rename to timm's canonical names, drop what is not backbone, record metadata) → :func:`load_pretrained`
(check the architecture, resize position tables to the model, load, return a :class:`LoadReport`).

Formats (:data:`FORMATS`): SiameseIM pretraining (online or target encoder) and fine-tuning, MAE (encoder-only,
``_full`` with decoder, fine-tuned), MoCo-v3, BEiT, DeiT (plain, distilled), timm, mmpretrain, mmseg, the
mmengine checkpoints of this suite's downstream runs and the suite's own converted format (:data:`SUITE_FORMAT`,
written by ``tools/convert_checkpoint.py``).

The mmpretrain / mmseg names were written from knowledge of their ViT modules, not read from their files:
``backbone.`` prefix; ``patch_embed.projection``; ``layers.i.{ln1,ln2}``; ``layers.i.attn.{qkv,proj}`` (mmpretrain,
mmseg BEiT/MAE) or ``layers.i.attn.attn.{in_proj_weight,in_proj_bias,out_proj}`` (mmseg ViT, ``vit2mmseg``);
``layers.i.ffn.layers.0.0`` / ``ffn.layers.1``; LayerScale ``layers.i.attn.gamma1.weight`` /
``layers.i.ffn.gamma2.weight`` (mmpretrain) or ``layers.i.gamma_1`` / ``gamma_2`` (mmseg); final norm ``ln1``,
pooled norm ``ln2``; classifier ``head.layers.head`` (``VisionTransformerClsHead``) or ``head.fc``
(``LinearClsHead``).
"""
import argparse
import dataclasses
import functools
import math
import os
import re
import warnings
import zipfile
from collections import defaultdict
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from .compat import warn_if_unsafe_load_forced
from .finite import describe_keys, non_finite_keys
from .layers import resize_pos_embed as resize_patch_pos_embed
from .layers import resize_rel_pos, sincos_2d

SUITE_FORMAT = 'siameseim-suite'
SUITE_FORMAT_VERSION = 1

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
BEIT_MEAN, BEIT_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)

# format -> (position-embedding convention when the table is fixed by the method, input mean, input std).
# A stored table that numerically equals a sin-cos table is reported as such whatever the format; mean/std
# None = not determined by the format (timm weights carry theirs in the model's pretrained_cfg).
FORMATS: Dict[str, Tuple[str, Optional[tuple], Optional[tuple]]] = {
    'siameseim-pretrain': ('row_first', IMAGENET_MEAN, IMAGENET_STD),
    'siameseim-finetune': ('row_first', IMAGENET_MEAN, IMAGENET_STD),
    'mae': ('col_first', IMAGENET_MEAN, IMAGENET_STD),
    'mae-full': ('col_first', IMAGENET_MEAN, IMAGENET_STD),
    'mae-finetune': ('learned', IMAGENET_MEAN, IMAGENET_STD),
    'moco-v3': ('row_first', IMAGENET_MEAN, IMAGENET_STD),
    'beit': ('learned', BEIT_MEAN, BEIT_STD),
    'deit': ('learned', IMAGENET_MEAN, IMAGENET_STD),
    'deit-distilled': ('learned', IMAGENET_MEAN, IMAGENET_STD),
    'timm': ('learned', None, None),
    'mmpretrain': ('learned', IMAGENET_MEAN, IMAGENET_STD),
    'mmseg': ('learned', IMAGENET_MEAN, IMAGENET_STD),
    'siameseim-suite-downstream': ('learned', None, None),
    'siameseim-suite-pretrain': ('row_first', IMAGENET_MEAN, IMAGENET_STD),
    SUITE_FORMAT: ('learned', None, None),
}

_BACKBONE_KEY = re.compile(r'^(cls_token|pos_embed|patch_embed\.proj\.(weight|bias)|norm\.(weight|bias)'
                           r'|blocks\.\d+\.((norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)'
                           r'|ls[12]\.gamma|attn\.(relative_position_bias_table|rel_pos_h|rel_pos_w)))$')
_HEAD_KEY = re.compile(r'^(fc_norm|head)\.(weight|bias)$')

# Why a key of a source checkpoint is not part of the backbone; first match wins.
_DROP_REASONS: Sequence[Tuple[str, str]] = (
    (r'^mm_', 'SiameseIM target (momentum) branch; use_target_encoder=True / --target-encoder loads its encoder'),
    (r'^(decoder_|projector_decoder_blocks|predictor_decoder_blocks)', 'pretraining decoder / projector / predictor'),
    (r'^mask_token$', 'mask token of masked image modelling'),
    (r'^momentum_encoder\.', 'MoCo-v3 momentum encoder; use_target_encoder=True / --target-encoder loads it'),
    (r'^base_encoder\.', 'MoCo-v3 online encoder (momentum encoder requested)'),
    (r'^predictor\.', 'MoCo-v3 predictor MLP'),
    (r'^head\.\d+\.', 'MoCo-v3 projection MLP (not a classifier)'),
    (r'relative_position_index$', 'index buffer, rebuilt by the model'),
    (r'^lm_head\.', 'BEiT masked-image-modelling head'),
    (r'^(dist_token|head_dist\.|pos_embed\[1\])', 'DeiT distillation token'),
    (r'^head\.layers\.pre_logits', 'mmpretrain pre-logits layer (no counterpart)'),
    (r'^(head|fc_norm)\.', 'classifier: keep_head=True / --keep-head keeps it'),
    (r'^(neck|decode_head|auxiliary_head|rpn_head|roi_head|data_preprocessor)\.',
     'task model outside the backbone (neck, heads)'),
)


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model; the message is one line naming the fix."""


class UntrustedPickleWarning(UserWarning):
    """Emitted when a checkpoint is unpickled with ``weights_only=False`` on the caller's request."""


# ---------------------------------------------------------------------------------------------------------
# Reading files


def _safe_globals() -> list:
    """Harmless globals real checkpoints pickle besides tensors (checked with saved objects).

    ``argparse.Namespace``: ``args`` of MAE-style ``save_model`` (SiameseIM, MAE, DeiT, BEiT) and timm's
    ``train.py``. numpy scalars, dtypes and arrays: metrics and buffers (MoCo, BEiT, timm, mmengine), under the
    names numpy 2 (``numpy._core``) and numpy 1 (``numpy.core``) pickle them with. The mmengine message hub of
    downstream checkpoints is allow-listed globally by :mod:`siameseim.compat`.
    """
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    rebuilders = [(getattr(multiarray, name), f'{module}.multiarray.{name}')
                  for name in ('scalar', '_reconstruct') for module in ('numpy._core', 'numpy.core')]
    dtype_classes = {type(np.dtype(code)) for code in '?bBhHiIlLqQefdgFD'}
    return [argparse.Namespace, np.ndarray, np.dtype, *dtype_classes, *rebuilders]


def _read_safetensors(path: str) -> dict:
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError:
        raise CheckpointError(f'{path}: reading .safetensors files needs the safetensors package: '
                              f'pip install safetensors') from None
    try:
        return load_file(path, device='cpu')
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f'{path} is not a readable safetensors file ({_first_line(err)}): '
                              f're-download or re-save it') from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _load_error(path: str, err: Exception) -> CheckpointError:
    """Translate a ``torch.load`` failure into one line with the fix."""
    message = str(err)
    with open(path, 'rb') as file:
        head = file.read(4)
    is_zip, is_pickle = head == b'PK\x03\x04', head[:1] == b'\x80'
    # What the file tried to load or call, in each wording of torch's weights-only unpickler (2.4 to 2.14).
    refused = (re.search(r'Unsupported global: GLOBAL (\S+)', message)
               or re.search(r'unsupported GLOBAL (\S+) whose module', message)
               or re.search(r'call reduce for unrecognized function (.+?)(?: which belongs to|$)', message, re.M)
               or re.search(r"allowlisted via `add_safe_globals`,? but got <class '([^']+)'>", message))
    # torch.save writes a zip archive or a binary pickle: a text file starting with 'c' only looks like a GLOBAL
    if refused and (is_zip or is_pickle):
        return CheckpointError(
            f'{path} holds arbitrary pickled objects ({refused.group(1)}), which safe loading refuses: pass '
            f'--trust-pickle (CLI) / trust_pickle=True only for files you trust, since unpickling can run code')
    if isinstance(err, EOFError) or 'unexpected EOF' in message or (is_zip and not zipfile.is_zipfile(path)):
        return CheckpointError(f'{path} is truncated or corrupted ({_first_line(err)}): '
                               f're-download or re-save the checkpoint')
    if is_zip or (is_pickle and 'magic number' not in message and 'Unsupported operand' not in message):
        problem = f'is an unreadable PyTorch checkpoint ({_first_line(err)})'
    elif is_pickle:
        problem = 'is a plain pickle, not a PyTorch checkpoint'
    else:
        problem = 'is not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle)'
    return CheckpointError(f'{path} {problem}: give a file written by torch.save (.pth/.pt/.bin) '
                           f'or a .safetensors file')


def check_finite(checkpoint: Any, source: Optional[str] = None) -> None:
    """Raise :class:`CheckpointError` naming the first tensors that hold NaN or inf (a diverged run's weights)."""
    bad = non_finite_keys(checkpoint)
    if bad:
        raise CheckpointError(f'{source or "checkpoint"} holds non-finite values (NaN or inf) in {len(bad)} '
                              f'tensors ({describe_keys(bad)}): the run that wrote it diverged; use an earlier '
                              f'checkpoint of that run')


def read_checkpoint(path: Union[str, os.PathLike], *, trust_pickle: bool = False) -> dict:
    """Read a checkpoint file on the CPU, refusing pickled code unless ``trust_pickle``.

    ``torch.load(weights_only=True)`` runs with the allow-list of :func:`_safe_globals`; anything else pickled in
    the file raises :class:`CheckpointError` asking for ``trust_pickle=True`` (then ``weights_only=False`` with
    an :class:`UntrustedPickleWarning`). ``.safetensors`` files are read with the safetensors package. Tensors
    holding NaN or inf are refused (:func:`check_finite`): no load path starts from a diverged run's weights.
    """
    warn_if_unsafe_load_forced()
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CheckpointError(f'{path} is a folder, not a checkpoint file: give the path of the file')
    if not os.path.isfile(path):
        raise CheckpointError(f'{path}: no such file: check the path')
    if os.path.getsize(path) == 0:
        raise CheckpointError(f'{path} is empty: re-download or re-save the checkpoint')
    if path.endswith('.safetensors'):
        checkpoint = _read_safetensors(path)
        check_finite(checkpoint, path)
        return checkpoint
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message='Detected pickle protocol')
            if trust_pickle:
                warnings.warn(f'{path}: unpickling with weights_only=False can run code stored in the file; '
                              f'do this only for files you trust', UntrustedPickleWarning, stacklevel=2)
                checkpoint = torch.load(path, map_location='cpu', weights_only=False)
            else:
                # the context removes its entries on exit: pass only those not registered globally (compat)
                registered = torch.serialization.get_safe_globals()
                with torch.serialization.safe_globals([g for g in _safe_globals() if g not in registered]):
                    checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # torch.load raises many types for bad files; each becomes one line
        raise _load_error(path, err) from None
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f'{path} holds a {type(checkpoint).__name__}, not a checkpoint: expected a '
                              f'state dict or a dict wrapping one (model / state_dict / module)')
    check_finite(checkpoint, path)
    return dict(checkpoint)


# ---------------------------------------------------------------------------------------------------------
# Format detection and canonical names


def _is_suite_checkpoint(checkpoint: Mapping) -> bool:
    meta = checkpoint.get('meta')
    return isinstance(meta, Mapping) and meta.get('format') == SUITE_FORMAT


def _unwrap(checkpoint: Mapping) -> Tuple[Dict[str, torch.Tensor], Optional[str]]:
    """The state dict without ``module.``: ``state_dict``, ``model``, ``module``, else the dict itself
    (docs/method.md §6.7 rule 1)."""
    container = next((key for key in ('state_dict', 'model', 'module') if isinstance(checkpoint.get(key), Mapping)),
                     None)
    state_dict = checkpoint[container] if container else checkpoint
    tensors = {key.removeprefix('module.'): value
               for key, value in state_dict.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise CheckpointError('checkpoint holds no tensors: expected a state dict or a dict wrapping one '
                              '(model / state_dict / module)')
    return tensors, container


def _looks_like_vit(keys: Sequence[str]) -> bool:
    return (any(re.search(r'(^|\.)(blocks|layers)\.\d+\.', key) for key in keys)
            and any('patch_embed' in key for key in keys))


_MM_LAYER = re.compile(r'^(layers\.\d+\.|patch_embed\.projection\.)')
_MMSEG_ONLY = re.compile(r'(\.gamma_[12]|\.attn\.attn\.in_proj_weight|relative_position_bias_table)$')


def _square_side(count: int) -> Optional[int]:
    side = math.isqrt(count)
    return side if side * side == count and side > 0 else None


@functools.lru_cache(maxsize=8)
def _sincos_tables(dim: int, grid: Tuple[int, int]) -> Dict[str, torch.Tensor]:
    return {convention: sincos_2d(dim, grid, row_first=convention == 'row_first')[0]
            for convention in ('row_first', 'col_first')}


def _sincos_convention(pos_embed: torch.Tensor, num_prefix: int, grid: Optional[Tuple[int, int]]) -> Optional[str]:
    """``'row_first'`` / ``'col_first'`` when the table is exactly a fixed 2-D sin-cos table (docs/method.md §1.2)."""
    dim = pos_embed.shape[-1]
    if grid is None or dim % 4 or pos_embed.shape[1] != num_prefix + grid[0] * grid[1]:
        return None
    patches = pos_embed[0, num_prefix:].float()
    for convention, table in _sincos_tables(dim, tuple(grid)).items():
        # 2e-3 admits fp16-stored tables; the first rows reject learned tables cheaply
        if all((patches[rows] - table[rows]).abs().max() <= 2e-3 for rows in (slice(0, 2), slice(None))):
            return convention
    return None


def _pos_embed_layout(state_dict: Mapping[str, torch.Tensor],
                      grid_hint: Optional[Sequence[int]] = None) -> Tuple[int, Optional[Tuple[int, int]]]:
    """Prefix rows and patch grid of a canonical ``pos_embed``.

    The prefix is one row per cls / distillation token; a table that keeps a cls row without the token
    (detectron2 ViTDet) is recognised by its square patch count. Grids are square unless ``grid_hint`` fits.
    """
    rows = state_dict['pos_embed'].shape[1]
    prefix = int('cls_token' in state_dict) + int('dist_token' in state_dict)
    if grid_hint is not None and prefix + grid_hint[0] * grid_hint[1] == rows:
        return prefix, (int(grid_hint[0]), int(grid_hint[1]))
    for candidate in dict.fromkeys((prefix, 1, 0, 2)):
        side = _square_side(rows - candidate)
        if side:
            return candidate, (side, side)
    return prefix, None


def detect_format(checkpoint: Mapping) -> str:
    """Name of the checkpoint format (a key of :data:`FORMATS`), from a loaded checkpoint or a bare state dict.

    Key-based rules of docs/method.md §6.7, then, for the timm-style family, the position table: SiameseIM and
    MoCo-v3 store a row-first sin-cos table, MAE a column-first one; fine-tuned SiameseIM/MAE models have
    ``fc_norm`` and no ``norm``.
    """
    if _is_suite_checkpoint(checkpoint):
        return SUITE_FORMAT
    state_dict, container = _unwrap(checkpoint)
    keys = list(state_dict)
    if not _looks_like_vit(keys):
        raise CheckpointError(f'not a ViT checkpoint (no patch_embed and blocks keys; found e.g. '
                              f'{", ".join(keys[:4])}): supported are SiameseIM, MAE, MoCo-v3, BEiT, DeiT/timm, '
                              f'mmpretrain/mmseg and this suite\'s own checkpoints')

    def has(pattern: str) -> bool:
        return any(re.search(pattern, key) for key in keys)

    if has(r'^encoder\.(blocks|patch_embed)\.'):
        return 'siameseim-suite-pretrain'
    if has(r'^backbone\.'):
        inner = [key[len('backbone.'):] for key in keys if key.startswith('backbone.')]
        if any(_MM_LAYER.match(key) for key in inner):
            return 'mmseg' if any(_MMSEG_ONLY.search(key) for key in inner) else 'mmpretrain'
        return 'siameseim-suite-downstream'
    if has(_MM_LAYER.pattern):
        return 'mmseg' if has(_MMSEG_ONLY.pattern) else 'mmpretrain'
    if has(r'^(base_encoder|momentum_encoder)\.'):
        return 'moco-v3'
    if has(r'^(mm_blocks|predictor_decoder_blocks)\.'):
        return 'siameseim-pretrain'
    if has(r'\.attn\.q_bias$|^rel_pos_bias\.'):
        return 'beit'
    if has(r'^decoder_blocks\.'):
        return 'mae-full'
    if 'dist_token' in state_dict:
        return 'deit-distilled'
    convention = None
    if 'pos_embed' in state_dict:
        convention = _sincos_convention(state_dict['pos_embed'], *_pos_embed_layout(state_dict))
    if 'fc_norm.weight' in state_dict and 'norm.weight' not in state_dict:
        return 'siameseim-finetune' if convention == 'row_first' else 'mae-finetune'
    if convention == 'col_first':
        return 'mae'
    if convention == 'row_first':
        return 'moco-v3' if 'norm.weight' in state_dict else 'siameseim-pretrain'
    return 'deit' if container == 'model' else 'timm'


def _drop_reason(key: str) -> str:
    return next((reason for pattern, reason in _DROP_REASONS if re.search(pattern, key)),
                'not part of the ViT backbone')


def rename_keys(state_dict: Mapping[str, Any], rules: Sequence[Tuple[str, str]]) -> Dict[str, Any]:
    """``state_dict`` with every ``(pattern, replacement)`` regex rule applied to each key, in order."""
    renamed = {}
    for key, value in state_dict.items():
        for pattern, replacement in rules:
            key = re.sub(pattern, replacement, key)
        renamed[key] = value
    return renamed


def _from_beit(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """BEiT names → canonical (docs/method.md §6.5).

    The shared ``rel_pos_bias.relative_position_bias_table`` is copied into every block; ``q_bias``/``v_bias`` →
    ``qkv.bias`` with a zero key bias; ``gamma_1/2`` → ``ls1/2.gamma``. Index buffers, ``mask_token`` and
    ``lm_head`` are left for :func:`_select_backbone` to drop.
    """
    shared = state_dict.pop('rel_pos_bias.relative_position_bias_table', None)
    if shared is not None:
        depth = 1 + max(int(m.group(1)) for m in map(re.compile(r'^blocks\.(\d+)\.').match, state_dict) if m)
        for index in range(depth):
            state_dict.setdefault(f'blocks.{index}.attn.relative_position_bias_table', shared)
    merged = {}
    for key, value in state_dict.items():
        if key.endswith(('.attn.k_bias', '.attn.v_bias')):
            continue
        if key.endswith('.attn.q_bias'):
            prefix = key[:-len('q_bias')]
            k_bias = state_dict.get(prefix + 'k_bias', torch.zeros_like(value))
            merged[prefix + 'qkv.bias'] = torch.cat([value, k_bias, state_dict[prefix + 'v_bias']])
            continue
        merged[re.sub(r'\.gamma_([12])$', r'.ls\1.gamma', key)] = value
    return merged


_MM_RULES = (
    (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^ln1\.', 'norm.'),
    (r'^ln2\.', 'fc_norm.'),
    (r'^layers\.(\d+)\.ln([12])\.', r'blocks.\1.norm\2.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
    (r'^layers\.(\d+)\.attn\.attn\.in_proj_(weight|bias)$', r'blocks.\1.attn.qkv.\2'),
    (r'^layers\.(\d+)\.attn\.attn\.out_proj\.', r'blocks.\1.attn.proj.'),
    (r'^layers\.(\d+)\.attn\.gamma1\.weight$', r'blocks.\1.ls1.gamma'),
    (r'^layers\.(\d+)\.ffn\.gamma2\.weight$', r'blocks.\1.ls2.gamma'),
    (r'^layers\.(\d+)\.', r'blocks.\1.'),
    (r'^head\.layers\.head\.', 'head.'),
    (r'^head\.fc\.', 'head.'),
)


def _strip_backbone_prefix(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str],
                           keep: Callable[[str], bool] = lambda key: False) -> Dict[str, torch.Tensor]:
    """Keys under ``backbone.`` without the prefix, plus the non-backbone keys ``keep`` accepts."""
    if not any(key.startswith('backbone.') for key in state_dict):
        return state_dict
    inner = {}
    for key, value in state_dict.items():
        if key.startswith('backbone.'):
            inner[key[len('backbone.'):]] = value
        elif keep(key):
            inner[key] = value
        else:
            dropped[key] = _drop_reason(key)
    return inner


def _from_mm(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str]) -> Dict[str, torch.Tensor]:
    """mmpretrain / mmseg names (see the module docstring) → canonical."""
    state_dict = _strip_backbone_prefix(state_dict, dropped, keep=lambda key: key.startswith('head.'))
    return _from_beit(rename_keys(state_dict, _MM_RULES))


def _from_siameseim_pretrain(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str],
                             use_target_encoder: bool) -> Dict[str, torch.Tensor]:
    """Online encoder, or the target encoder (``mm_`` prefix stripped, shared ``pos_embed``), docs/method.md §6.1."""
    if not use_target_encoder:
        return state_dict
    if not any(key.startswith('mm_blocks.') for key in state_dict):
        raise CheckpointError('checkpoint has no target encoder (mm_blocks.* keys): load the online encoder '
                              '(use_target_encoder=False, no --target-encoder)')
    target = {}
    for key, value in state_dict.items():
        name = key[len('mm_'):] if key.startswith('mm_') else None
        if name is not None and _BACKBONE_KEY.match(name):
            target[name] = value
        elif key == 'pos_embed':
            target[key] = value
        else:
            dropped[key] = ('SiameseIM online branch (target encoder requested)'
                            if _BACKBONE_KEY.match(key) else _drop_reason(key.removeprefix('mm_')))
    return target


def _from_suite_pretrain(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str],
                         use_target_encoder: bool) -> Dict[str, torch.Tensor]:
    """The encoder of this suite's pretraining runs (``encoder.*``, or ``target_encoder.*`` for the EMA copy)."""
    prefix = 'target_encoder.' if use_target_encoder else 'encoder.'
    if not any(key.startswith(prefix) for key in state_dict):
        raise CheckpointError(f'pretraining checkpoint has no {prefix}* keys: this run has no target encoder '
                              f'(MAE); drop --target-encoder')
    encoder = {}
    for key, value in state_dict.items():
        if key.startswith(prefix):
            encoder[key[len(prefix):]] = value
        elif key.startswith(('encoder.', 'target_encoder.')):
            dropped[key] = 'the other encoder of the pretraining run (online vs target)'
        else:
            dropped[key] = 'pretraining decoder / projector / predictor / loss'
    return encoder


def _from_moco(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str],
               use_target_encoder: bool) -> Dict[str, torch.Tensor]:
    """``base_encoder.*`` (or ``momentum_encoder.*``) without the projection MLP ``head.*`` (docs/method.md §6.4)."""
    prefix = 'momentum_encoder.' if use_target_encoder else 'base_encoder.'
    encoder = {}
    for key, value in state_dict.items():
        if key.startswith(prefix) and not key.startswith(prefix + 'head.'):
            encoder[key[len(prefix):]] = value
        else:
            dropped[key] = _drop_reason(key[len(prefix):] if key.startswith(prefix) else key)
    if not encoder:
        raise CheckpointError(f'MoCo-v3 checkpoint has no {prefix}* keys')
    return encoder


def _from_deit_distilled(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str]) -> Dict[str, torch.Tensor]:
    """Drop the distillation token's position row (row 1, after cls); the token and its head are dropped later."""
    if 'pos_embed' in state_dict:
        pos_embed = state_dict['pos_embed']
        state_dict['pos_embed'] = torch.cat([pos_embed[:, :1], pos_embed[:, 2:]], dim=1)
        dropped['pos_embed[1]'] = _drop_reason('pos_embed[1]')
    return state_dict


def _select_backbone(state_dict: Mapping[str, torch.Tensor], keep_head: bool,
                     dropped: Dict[str, str]) -> Dict[str, torch.Tensor]:
    selected = {}
    for key, value in state_dict.items():
        if _BACKBONE_KEY.match(key) or (keep_head and _HEAD_KEY.match(key)):
            selected[key] = value
        else:
            dropped.setdefault(key, _drop_reason(key))
    return selected


# ---------------------------------------------------------------------------------------------------------
# Architecture of a canonical state dict


def _preset_name(embed_dim: int, depth: int) -> Optional[str]:
    from .models.vit import ARCHS
    return next((name for name, arch in ARCHS.items()
                 if (arch['embed_dim'], arch['depth']) == (embed_dim, depth)), None)


def _arch_label(embed_dim: int, depth: int) -> str:
    name = _preset_name(embed_dim, depth)
    return f'ViT-{name[0].upper()}' if name else 'ViT, no preset'


def _heads_from_name(name: Any, embed_dim: int) -> Optional[int]:
    """Heads of the preset a model name refers to (``sim_vit_base_patch16``, ``vit_large``), if widths agree."""
    from .models.vit import ARCHS
    match = re.search(r'(tiny|small|base|large|huge)', str(name).lower())
    if match is None or ARCHS[match.group(1)]['embed_dim'] != embed_dim:
        return None
    return ARCHS[match.group(1)]['num_heads']


def _name_hint(checkpoint: Mapping) -> Optional[str]:
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
    from .models.vit import ARCHS
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
    prefix, grid = _pos_embed_layout(state_dict, pos_embed_grid) if 'pos_embed' in state_dict else (0, None)
    head = state_dict.get('head.weight')
    return {
        'name': _preset_name(embed_dim, depth),
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
        'rel_pos_bias_grid': _rel_pos_bias_layout(table)[0] if table is not None else None,
        'rel_pos': any(key.endswith('.attn.rel_pos_h') for key in state_dict),
        'final_norm': 'norm.weight' in state_dict,
        'fc_norm': 'fc_norm.weight' in state_dict,
        'num_classes': int(head.shape[0]) if head is not None else 0,
    }


def check_architecture(arch: Mapping[str, Any], *, embed_dim: int, depth: int, num_heads: int,
                       patch_size: Union[int, Sequence[int]]) -> None:
    """Raise :class:`CheckpointError` naming the backbone to build when the checkpoint's sizes differ."""
    if (arch['depth'], arch['embed_dim']) != (depth, embed_dim):
        name = _preset_name(arch['embed_dim'], arch['depth'])
        if name is not None:
            from .models.vit import ARCHS
            build = f"arch='{name}'"
            if arch['patch_size'] != ARCHS[name]['patch_size']:
                build += f", patch_size={arch['patch_size']}"
        else:
            build = (f"arch=None, embed_dim={arch['embed_dim']}, depth={arch['depth']}, "
                     f"num_heads={arch['num_heads'] or '<heads>'}")
        raise CheckpointError(
            f"checkpoint has depth {arch['depth']} / width {arch['embed_dim']} "
            f"({_arch_label(arch['embed_dim'], arch['depth'])}) but the model is depth {depth} / width {embed_dim} "
            f"({_arch_label(embed_dim, depth)}): build the backbone with {build}")
    if arch['patch_size'] != patch_size:
        raise CheckpointError(f"checkpoint has patch size {arch['patch_size']} but the model has {patch_size}: "
                              f"build the backbone with patch_size={arch['patch_size']}")
    if arch['num_heads'] is not None and arch['num_heads_source'] != 'preset of that width' \
            and arch['num_heads'] != num_heads:
        raise CheckpointError(f"checkpoint has {arch['num_heads']} heads (from its {arch['num_heads_source']}) but "
                              f"the model has {num_heads}: build the backbone with num_heads={arch['num_heads']}")


# ---------------------------------------------------------------------------------------------------------
# Canonical state dict + metadata


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
    state_dict = _select_backbone(checkpoint['state_dict'], keep_head, dropped)
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
    if _is_suite_checkpoint(checkpoint):
        return _suite_to_canonical(checkpoint, keep_head, use_target_encoder)
    fmt = detect_format(checkpoint)
    state_dict, _ = _unwrap(checkpoint)
    dropped: Dict[str, str] = {}
    if use_target_encoder and fmt not in ('siameseim-pretrain', 'siameseim-suite-pretrain', 'moco-v3'):
        raise CheckpointError(f'a {fmt} checkpoint has no target encoder: only SiameseIM pretraining (mm_*) and '
                              f'MoCo-v3 (momentum_encoder) checkpoints do; drop --target-encoder')
    if fmt == 'siameseim-pretrain':
        state_dict = _from_siameseim_pretrain(state_dict, dropped, use_target_encoder)
    elif fmt == 'moco-v3' and any(key.startswith(('base_encoder.', 'momentum_encoder.')) for key in state_dict):
        state_dict = _from_moco(state_dict, dropped, use_target_encoder)
    elif fmt == 'moco-v3' and use_target_encoder:
        raise CheckpointError('this MoCo-v3 checkpoint holds only the base encoder: drop --target-encoder')
    elif fmt == 'beit':
        state_dict = _from_beit(state_dict)
    elif fmt in ('mmpretrain', 'mmseg'):
        state_dict = _from_mm(state_dict, dropped)
    elif fmt == 'siameseim-suite-downstream':
        state_dict = _strip_backbone_prefix(state_dict, dropped)
    elif fmt == 'siameseim-suite-pretrain':
        state_dict = _from_suite_pretrain(state_dict, dropped, use_target_encoder)
    elif fmt == 'deit-distilled':
        state_dict = _from_deit_distilled(state_dict, dropped)
    state_dict = _select_backbone(state_dict, keep_head, dropped)
    if 'patch_embed.proj.weight' not in state_dict or not any(key.startswith('blocks.') for key in state_dict):
        raise CheckpointError(f'{fmt} checkpoint has no complete ViT backbone after conversion (patch_embed.proj '
                              f'or blocks missing): the file is incomplete or not a ViT')
    arch = infer_arch(state_dict, name_hint=_name_hint(checkpoint))
    default_convention, mean, std = FORMATS[fmt]
    if not arch['pos_embed']:
        convention = 'none'
    else:
        convention = _sincos_convention(state_dict['pos_embed'], arch['pos_embed_prefix'], arch['pos_embed_grid'])
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


# ---------------------------------------------------------------------------------------------------------
# Resizing position tables


def resize_pos_embed(pos_embed: torch.Tensor,
                     src_grid: Sequence[int],
                     dst_grid: Sequence[int],
                     num_prefix_src: int = 1,
                     num_prefix_dst: Optional[int] = None) -> torch.Tensor:
    """Resize a stored ``[1, prefix + gh*gw, D]`` table to another grid and prefix count (docs/method.md §6.7 rule 4).

    The patch part is resized bicubically (``align_corners=False``, fp32); prefix rows are copied. With fewer
    target prefix rows the first ones are kept: a distilled DeiT table (cls, dist) keeps cls, and a model without
    cls token (ViTDet) gets none. Missing prefix rows are zeros, the value of fixed sin-cos tables.
    """
    num_prefix_dst = num_prefix_src if num_prefix_dst is None else num_prefix_dst
    prefix, patches = pos_embed[:, :num_prefix_src], pos_embed[:, num_prefix_src:]
    patches = resize_patch_pos_embed(patches, tuple(src_grid), tuple(dst_grid))
    if num_prefix_dst <= num_prefix_src:
        prefix = prefix[:, :num_prefix_dst]
    else:
        padding = prefix.new_zeros(1, num_prefix_dst - num_prefix_src, prefix.shape[-1])
        prefix = torch.cat([prefix, padding], dim=1)
    return torch.cat([prefix, patches], dim=1)


def _rel_pos_bias_layout(table: torch.Tensor) -> Tuple[Optional[Tuple[int, int]], int]:
    """Token grid and extra (cls) rows of a square BEiT table: ``(2g-1)² + 3`` or ``(2g-1)²`` rows."""
    for extra in (3, 0):
        side = _square_side(table.shape[0] - extra)
        if side and side % 2:
            return ((side + 1) // 2, (side + 1) // 2), extra
    return None, 0


def _geometric_ratio(num_terms: int, total: float) -> float:
    """Ratio ``q ≥ 1`` with ``1 + q + … + q^(n-1) = total``, by bisection as BEiT does (tolerance 1e-6).

    BEiT searches in the fixed bracket [1.01, 1.5]; this searches [1, ∞), identical whenever BEiT's bracket
    contains the solution.
    """
    def series(q: float) -> float:
        return float(num_terms) if q == 1.0 else (q**num_terms - 1.0) / (q - 1.0)

    low, high = 1.0, 2.0
    while series(high) < total:
        high *= 2.0
    while high - low > 1e-6:
        middle = (low + high) / 2.0
        low, high = (low, middle) if series(middle) > total else (middle, high)
    return (low + high) / 2.0


def _offset_nodes(src_side: int, dst_side: int) -> np.ndarray:
    """Positions of the source table's offsets on the target's offset axis (BEiT's geometric spacing).

    Growing: the offsets ``±1 … ±n`` are placed at ``±(1 + q + … + q^(k-1))`` so that the outermost lands on the
    target's outermost offset; near offsets stay at unit spacing. Shrinking or equal: unit spacing, so evaluating
    at the target offsets reads the table's central offsets exactly (a crop; every needed offset exists).
    """
    half = src_side // 2
    if dst_side <= src_side:
        return np.arange(-half, half + 1, dtype=np.float64)
    ratio = _geometric_ratio(half, dst_side // 2)
    distances = np.cumsum(ratio**np.arange(half, dtype=np.float64))
    return np.concatenate([-distances[::-1], [0.0], distances])


def resize_rel_pos_bias_table(table: torch.Tensor,
                              src_grid: Sequence[int],
                              dst_grid: Sequence[int],
                              num_extra: int = 3,
                              dst_num_extra: Optional[int] = None) -> torch.Tensor:
    """Resize a BEiT relative position bias table ``[(2gh-1)(2gw-1) + extra, heads]`` to another token grid.

    BEiT's geometric-progression interpolation (``beit/semantic_segmentation``, ``run_class_finetuning.py``)
    without ``scipy.interpolate.interp2d`` (removed in SciPy 1.14): an interpolating bicubic spline
    (``RectBivariateSpline``, ``s=0`` — the spline ``interp2d(kind='cubic')`` fits on a grid) through the source
    offsets at geometric positions (:func:`_offset_nodes`), evaluated at the integer target offsets, per head and
    per axis (non-square grids work). The ``num_extra`` cls rows are kept, dropped when ``dst_num_extra`` is 0
    (target without cls token) or zero-padded when the target has cls rows the source lacks.
    """
    from scipy.interpolate import RectBivariateSpline

    dst_num_extra = num_extra if dst_num_extra is None else dst_num_extra
    src_sides = (2 * src_grid[0] - 1, 2 * src_grid[1] - 1)
    dst_sides = (2 * dst_grid[0] - 1, 2 * dst_grid[1] - 1)
    num_offsets, num_heads = src_sides[0] * src_sides[1], table.shape[1]
    if table.shape[0] != num_offsets + num_extra:
        raise ValueError(f'relative position bias table has {table.shape[0]} rows, expected {num_offsets} offsets '
                         f'of a {src_grid[0]}x{src_grid[1]} grid + {num_extra} extra')
    offsets, extra = table[:num_offsets], table[num_offsets:]
    if src_sides != dst_sides:
        row_nodes, col_nodes = (_offset_nodes(s, d) for s, d in zip(src_sides, dst_sides))
        row_targets, col_targets = (np.arange(-(d // 2), d // 2 + 1, dtype=np.float64) for d in dst_sides)
        values = offsets.detach().double().cpu().numpy().reshape(*src_sides, num_heads)
        resized = [
            RectBivariateSpline(row_nodes, col_nodes, values[..., head],
                                kx=min(3, src_sides[0] - 1), ky=min(3, src_sides[1] - 1), s=0)(row_targets, col_targets)
            for head in range(num_heads)
        ]
        offsets = torch.from_numpy(np.stack(resized, axis=-1).reshape(-1, num_heads)).to(table.dtype)
    if dst_num_extra <= num_extra:
        extra = extra[:dst_num_extra]
    else:
        extra = torch.cat([extra, extra.new_zeros(dst_num_extra - num_extra, num_heads)])
    return torch.cat([offsets, extra])


# ---------------------------------------------------------------------------------------------------------
# Loading into a model


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

    @property
    def unexplained_missing(self) -> List[str]:
        return [key for key, reason in self.missing.items() if reason is None]

    def __str__(self) -> str:
        meta, arch = self.metadata, self.metadata['arch']
        expected = len(self.missing) - len(self.unexplained_missing)
        heads = (f"heads {arch['num_heads']} ({arch['num_heads_source']})" if arch['num_heads'] else 'heads unknown')
        source_note = f" (from {meta['source_format']})" if meta['source_format'] != self.format else ''
        resized = dict.fromkeys((_collapse([key])[0], old, new) for key, old, new in self.resized)
        lines = [
            f'checkpoint: {self.source or "<in-memory>"}',
            f'format: {self.format}{source_note}',
            f"architecture: {_arch_label(arch['embed_dim'], arch['depth'])}, width {arch['embed_dim']}, "
            f"depth {arch['depth']}, {heads}, patch {arch['patch_size']}",
            f"position embedding: {meta['pos_embed_convention']}; input mean {meta['mean']}, std {meta['std']}",
            f'loaded: {len(self.loaded)} tensors',
            f'resized: {len(self.resized)}',
            *(f'  {pattern}: {list(old)} -> {list(new)}' for pattern, old, new in resized),
            f'missing: {len(self.missing)} ({expected} expected)',
            *_grouped_lines(self.missing, lambda reason: f'expected, {reason}' if reason else 'NOT EXPECTED'),
            f'unexpected: {len(self.unexpected)}',
            *(f'  {pattern}' for pattern in _collapse(self.unexpected)),
            f'dropped: {len(self.dropped)}',
            *_grouped_lines(self.dropped, str),
        ]
        return '\n'.join(lines)


def _collapse(keys: Sequence[str], limit: int = 8) -> List[str]:
    """Key patterns with block indices folded (``blocks.*.attn.qkv.weight``), in order, at most ``limit``."""
    patterns = list(dict.fromkeys(re.sub(r'(blocks|layers)\.\d+\.', r'\1.*.', key) for key in keys))
    return patterns[:limit] + ([f'... {len(patterns) - limit} more'] if len(patterns) > limit else [])


def _grouped_lines(reasons: Mapping[str, Optional[str]], label: Callable[[Optional[str]], str]) -> List[str]:
    """One line per reason: ``  <label> [count]: key patterns``."""
    groups: Dict[Optional[str], List[str]] = defaultdict(list)
    for key, reason in reasons.items():
        groups[reason].append(key)
    return [f"  {label(reason)} [{len(keys)}]: {', '.join(_collapse(keys, 6))}" for reason, keys in groups.items()]


def _model_lacks_reason(key: str) -> Optional[str]:
    """Why a checkpoint key the model has no slot for is dropped; None if the model should have had it."""
    if key == 'cls_token':
        return 'model has no cls token (cls_token=False)'
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
    if _HEAD_KEY.match(key) and not keep_head:
        return 'classifier not requested (keep_head=False): keeps its fresh init'
    if key.endswith(('.attn.rel_pos_h', '.attn.rel_pos_w')) and not checkpoint_has('.attn.rel_pos_h'):
        return 'decomposed relative positions: zero init, not pretrained (ViTDet)'
    if key.endswith('.attn.relative_position_bias_table') and not checkpoint_has('relative_position_bias_table'):
        return 'relative position bias: zero init, not in the checkpoint (mmseg MAE recipe)'
    if key.endswith(('.ls1.gamma', '.ls2.gamma')) and not checkpoint_has('.ls1.gamma'):
        return 'LayerScale not in the checkpoint: keeps its init value'
    if key == 'pos_embed' and 'pos_embed' not in checkpoint_keys:
        return 'checkpoint has no absolute position embedding (BEiT): the model keeps its own table'
    return None


def _resized_to_model(key: str, value: torch.Tensor, target_shape: Tuple[int, ...], arch: Mapping[str, Any],
                      model: nn.Module) -> Optional[torch.Tensor]:
    """``value`` resized to the model's ``target_shape`` when ``key`` is a position table, else None."""
    if key == 'pos_embed':
        if arch['pos_embed_grid'] is None:
            raise CheckpointError(f"cannot tell the grid of the checkpoint's pos_embed {list(value.shape)} (patch "
                                  f"rows not a square): convert it with tools/convert_checkpoint.py from a "
                                  f"checkpoint whose grid is known")
        resized = resize_pos_embed(value, arch['pos_embed_grid'], model.pos_embed_grid, arch['pos_embed_prefix'],
                                   model.num_prefix_tokens)
    elif key.endswith('.attn.relative_position_bias_table'):
        src_grid, num_extra = _rel_pos_bias_layout(value)
        if src_grid is None or value.shape[1] != target_shape[1]:
            return None
        resized = resize_rel_pos_bias_table(value, src_grid, model.grid_size, num_extra,
                                            3 if model.num_prefix_tokens else 0)
    elif key.endswith(('.attn.rel_pos_h', '.attn.rel_pos_w')) and value.shape[1:] == target_shape[1:]:
        resized = resize_rel_pos(value, target_shape[0])
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
                           num_heads=model.num_heads, patch_size=model.patch_size)
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
        metadata=metadata)
    if strict and (report.unexplained_missing or report.unexpected):
        raise CheckpointError(
            f'{source or "checkpoint"}: strict load failed: {len(report.unexplained_missing)} unexpected missing '
            f'keys ({", ".join(_collapse(report.unexplained_missing, 3)) or "none"}) and {len(report.unexpected)} '
            f'unused keys ({", ".join(_collapse(report.unexpected, 3)) or "none"}): build the backbone to match '
            f'the checkpoint or load with strict=False')
    return report


__all__ = [
    'SUITE_FORMAT', 'SUITE_FORMAT_VERSION', 'FORMATS', 'CheckpointError', 'UntrustedPickleWarning', 'LoadReport',
    'read_checkpoint', 'check_finite', 'detect_format', 'to_canonical', 'converted_checkpoint', 'infer_arch',
    'check_architecture', 'resize_pos_embed', 'resize_rel_pos_bias_table', 'resize_rel_pos', 'load_pretrained'
]
