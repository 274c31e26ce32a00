"""Compatibility fixes that let the pinned OpenMMLab / LVIS / timm stack run on current torch, numpy and Pillow.

The fixes are narrow and idempotent, and :func:`apply_all` (run on ``import siameseim``) applies them:

* :func:`allow_mmengine_checkpoint_globals`: since torch 2.6, ``torch.load`` defaults to ``weights_only=True``.
  mmengine 0.10.7 calls ``torch.load`` without ``weights_only``, and its checkpoints pickle the message hub:
  ``HistoryBuffer`` objects holding numpy arrays, numpy scalars (``eta``, best scores) and the buffer's
  statistic methods (pickled as ``getattr(HistoryBuffer, 'mean')``). Resuming therefore fails with
  "Unsupported global". The fix allow-lists exactly those globals for weights-only loading; nothing is
  loaded with ``weights_only=False``.
* :func:`patch_lvis_np_float`: lvis 0.5.3 ``LVISEval.accumulate`` uses ``np.float``, removed in numpy 1.24.
  The fix gives ``lvis.eval`` a numpy view that also has ``float``; numpy itself is not changed.
* :func:`patch_timm_posterize`: timm's RandAugment ``inc1`` posterize keeps ``4 - level`` bits, 0 at the top
  magnitude (reached with ``mstd`` noise); Pillow >= 11 rejects 0 bits where older Pillow returned a black
  image, so a fine-tuning run died at random. The fix gives timm's posterize ops the old 0-bit result.
"""
import pickle
import types
from typing import Any, Callable

import numpy as np
import torch

__all__ = ['allow_mmengine_checkpoint_globals', 'patch_lvis_np_float', 'patch_timm_posterize', 'apply_all']

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


def allow_mmengine_checkpoint_globals() -> bool:
    """Let ``torch.load(weights_only=True)`` read mmengine checkpoints (and so ``Runner.resume``).

    Returns False where torch has no weights-only allow-list (torch < 2.4, which also loads with
    ``weights_only=False`` by default, so nothing needs fixing).
    """
    if not hasattr(torch.serialization, 'add_safe_globals'):
        return False
    from mmengine.logging import HistoryBuffer

    torch.serialization.add_safe_globals(
        [HistoryBuffer, (_history_buffer_statistic, 'builtins.getattr'), *_numpy_safe_globals()])
    return True


class _NumpyWithFloat(types.ModuleType):
    """numpy as ``lvis.eval`` sees it: numpy itself plus the ``np.float`` alias (the builtin ``float``)."""

    float = float

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


def patch_lvis_np_float() -> bool:
    """Make ``lvis.eval`` (lvis 0.5.3) run on numpy >= 1.24 by giving that one module an ``np.float``.

    Only ``lvis.eval``'s module-level ``np`` is replaced, so numpy's own namespace keeps failing loudly on
    ``np.float`` everywhere else. Returns False where lvis is not installed.
    """
    try:
        import lvis.eval
    except ImportError:
        return False
    if not isinstance(lvis.eval.np, _NumpyWithFloat):
        lvis.eval.np = _NumpyWithFloat('numpy')
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
    patch_lvis_np_float()
    patch_timm_posterize()
