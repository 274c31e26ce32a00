"""Make lvis 0.5.3's evaluator run on numpy >= 1.24.

``LVISEval.accumulate`` casts with ``np.float``, removed in numpy 1.24 (fixed in the lvis git repository, never
released), so an evaluation died after all per-image work. :func:`patch_lvis_np_float` gives the ``lvis.eval``
module a numpy view that also has ``float``; numpy itself is not changed. Importing :mod:`siameseim.detection`
applies it: only the detection task evaluates LVIS.
"""
import types
from typing import Any

import numpy as np


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


__all__ = ['patch_lvis_np_float']
