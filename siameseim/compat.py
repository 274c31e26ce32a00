"""Compatibility fixes that let the pinned OpenMMLab / timm stack run on current torch, numpy and Pillow.

The fixes are narrow and idempotent, and :func:`apply_all` (run on ``import siameseim``) applies them all:

* :func:`allow_mmengine_checkpoint_globals`: since torch 2.6, ``torch.load`` defaults to ``weights_only=True``.
  mmengine 0.10.7 calls ``torch.load`` without ``weights_only``, and its checkpoints pickle the message hub:
  ``HistoryBuffer`` objects holding numpy arrays, numpy scalars (``eta``, best scores) and the buffer's
  statistic methods (pickled as ``getattr(HistoryBuffer, 'mean')``). Resuming therefore fails with
  "Unsupported global". The fix allow-lists those globals for weights-only loading; nothing is loaded with
  ``weights_only=False``. :func:`weights_only_safe_globals` is the suite's one allow-list: the same list serves
  :func:`siameseim.checkpoint.read_checkpoint`.
* :func:`load_mmengine_checkpoints_weights_only`: mmengine's loader for local files (``load_from``,
  ``init_cfg=dict(type='Pretrained')``, the checkpoint hook's publishing) calls ``torch.load`` without
  ``weights_only``, which ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` turns into unpickling arbitrary code. The fix
  registers the same loader with ``weights_only=True`` passed explicitly, which that variable cannot override;
  :func:`warn_if_unsafe_load_forced` tells the user once that the variable is set and ignored here.
* :func:`patch_timm_posterize`: timm's RandAugment ``inc1`` posterize keeps ``4 - level`` bits, 0 at the top
  magnitude (reached with ``mstd`` noise); Pillow >= 11 rejects 0 bits where older Pillow returned a black
  image, so a fine-tuning run died at random. The fix gives timm's posterize ops the old 0-bit result.

The lvis fix of the detection task lives with that task (:mod:`siameseim.detection.lvis_numpy`).
"""
import argparse
import os
import os.path as osp
import pickle
import warnings
from typing import Any, Callable, Optional, Union

import numpy as np
import torch

__all__ = ['weights_only_safe_globals', 'allow_mmengine_checkpoint_globals', 'load_mmengine_checkpoints_weights_only',
           'UnsafeLoadWarning', 'warn_if_unsafe_load_forced', 'patch_timm_posterize', 'apply_all']

_FORCE_UNSAFE_LOAD = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'

# The statistic methods that ``HistoryBuffer`` registers for itself and pickles with its state.
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')

# Numeric numpy dtypes (bool, integers, floats, complex) whose arrays and scalars may sit in a checkpoint.
_NUMPY_DTYPE_CODES = '?bBhHiIlLqQefdgFDG'


def _history_buffer_statistic(owner: Any, name: str) -> Callable:
    """Stand-in for ``builtins.getattr`` during weights-only loading.

    A pickled ``HistoryBuffer`` refers to its statistic methods as ``getattr(HistoryBuffer, 'mean')``.
    Allow-listing the real ``getattr`` would let a checkpoint reach any attribute of any allowed object, so
    this resolves only those methods and refuses everything else.
    """
    from mmengine.logging import HistoryBuffer

    if owner is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(f'refused getattr({owner!r}, {name!r}) in a weights-only checkpoint: only '
                                 f'HistoryBuffer.{{{",".join(_HISTORY_BUFFER_STATISTICS)}}} are allowed')


def _numpy_safe_globals() -> list:
    """The numpy functions and classes that rebuild arrays, scalars and dtypes, under the names they are
    pickled with: ``numpy._core.multiarray`` (numpy 2) and ``numpy.core.multiarray`` (numpy 1)."""
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    rebuilders = [(getattr(multiarray, fn), f'{module}.multiarray.{fn}')
                  for fn in ('scalar', '_reconstruct') for module in ('numpy._core', 'numpy.core')]
    dtype_classes = {type(np.dtype(code)) for code in _NUMPY_DTYPE_CODES}
    return [np.ndarray, np.dtype, *dtype_classes, *rebuilders]


def weights_only_safe_globals() -> list:
    """The harmless globals real checkpoints pickle besides tensors: the suite's one weights-only allow-list.

    ``argparse.Namespace``: ``args`` of MAE-style ``save_model`` (SiameseIM, MAE, DeiT, BEiT) and timm's
    ``train.py``. numpy arrays, scalars and dtypes: metrics and buffers (MoCo, BEiT, timm, mmengine).
    ``HistoryBuffer`` and its statistic methods (through :func:`_history_buffer_statistic`): the message hub of
    mmengine checkpoints (this suite's downstream runs and resumes).
    """
    from mmengine.logging import HistoryBuffer

    return [argparse.Namespace, HistoryBuffer, (_history_buffer_statistic, 'builtins.getattr'),
            *_numpy_safe_globals()]


def allow_mmengine_checkpoint_globals() -> bool:
    """Let ``torch.load(weights_only=True)`` read mmengine checkpoints (and so ``Runner.resume``).

    Registers :func:`weights_only_safe_globals` process-wide. Returns False where torch has no weights-only
    allow-list (torch < 2.4, which also loads with ``weights_only=False`` by default, so nothing needs fixing).
    """
    if not hasattr(torch.serialization, 'add_safe_globals'):
        return False
    torch.serialization.add_safe_globals(weights_only_safe_globals())
    return True


class UnsafeLoadWarning(UserWarning):
    """``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is set: torch.load calls without ``weights_only`` would run code."""


_unsafe_load_warned = False


def warn_if_unsafe_load_forced() -> bool:
    """Warn once per process when ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is set; returns whether it is.

    The suite's loaders pass ``weights_only=True`` explicitly, which the variable does not override, so they
    stay safe; the warning is for every other ``torch.load`` of the process.
    """
    global _unsafe_load_warned
    forced = os.environ.get(_FORCE_UNSAFE_LOAD, '0').lower() in ('1', 'y', 'yes', 'true')
    if forced and not _unsafe_load_warned:
        _unsafe_load_warned = True
        warnings.warn(f'{_FORCE_UNSAFE_LOAD} is set: SiameseIM Suite ignores it and loads checkpoints weights-only '
                      f'(pass --trust-pickle / trust_pickle=True for a file you trust), but any other torch.load '
                      f'of this process may run code stored in a file: unset it', UnsafeLoadWarning, stacklevel=3)
    return forced


def _load_local_weights_only(filename: str, map_location: Optional[Union[str, Callable]] = None) -> Any:
    """mmengine's ``load_from_local`` with ``weights_only=True`` passed explicitly."""
    import torch

    warn_if_unsafe_load_forced()
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=True)


def load_mmengine_checkpoints_weights_only() -> bool:
    """Make mmengine read local checkpoint files weights-only whatever the environment says.

    Returns False where mmengine is not installed.
    """
    try:
        from mmengine.runner.checkpoint import CheckpointLoader
    except ImportError:
        return False
    CheckpointLoader.register_scheme(prefixes='', loader=_load_local_weights_only, force=True)
    return True


def _posterize(img: Any, bits_to_keep: int, **kwargs: Any) -> Any:
    """timm's posterize with Pillow < 11's result for 0 bits: every channel value masked to 0."""
    from PIL import Image
    if bits_to_keep <= 0:
        return Image.new(img.mode, img.size)
    return _posterize.timm(img, bits_to_keep, **kwargs)


def patch_timm_posterize() -> bool:
    """Route timm's RandAugment posterize ops through :func:`_posterize`. Returns False without timm."""
    try:
        from timm.data import auto_augment
    except ImportError:
        return False
    if not hasattr(_posterize, 'timm'):
        _posterize.timm = auto_augment.posterize
    for name, op in auto_augment.NAME_TO_OP.items():
        if op is _posterize.timm:
            auto_augment.NAME_TO_OP[name] = _posterize
    return True


def apply_all() -> None:
    """Apply every fix in this module; safe to call any number of times."""
    allow_mmengine_checkpoint_globals()
    load_mmengine_checkpoints_weights_only()
    patch_timm_posterize()
