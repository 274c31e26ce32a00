"""Check that this Python can run SiameseIM Suite; ``tools/install.sh`` runs it as its last step.

Each check imports what one part of the suite needs and returns the versions it found, or raises
:class:`InstallCheckError` with one line naming what failed and how to fix it.

Usage::

    siameseim-verify                  # every check, then a version summary
    siameseim-verify --check mmcv     # one check (install.sh uses this to reuse an mmcv)
    python tools/verify_install.py    # the same in a checkout, also before the project is installed

Exit status 0 when every check passes, 1 with the failing check's line on stderr otherwise.

The module imports only the standard library at the top, so ``tools/verify_install.py`` can run this file
without importing ``siameseim`` (whose import needs torch and mmengine, which are among the things checked).
The task packages are looked up by name (:func:`importlib.util.find_spec`), not imported: the core imports no
task.
"""
import argparse
import importlib.util
import os.path as osp
import sys
from typing import Callable, Dict, List, Optional

MMCV_VERSION = '2.1.0'
# The task folders installed under the siameseim namespace (setup.py); looked up, never imported.
TASK_PACKAGES = ('siameseim.pretrain', 'siameseim.detection', 'siameseim.segmentation', 'siameseim.robustness')
INSTALL_FIX = 'run bash tools/install.sh'
REBUILD_FIX = 'rebuild with bash tools/install.sh --rebuild-mmcv'


class InstallCheckError(RuntimeError):
    """A failed check; its message is the one line shown to the user."""


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f'{type(error).__name__}: {lines[0] if lines else ""}'.rstrip(': ')


def _import_failed(what: str, error: BaseException, fix: str = INSTALL_FIX) -> InstallCheckError:
    return InstallCheckError(f'{what} failed to import ({_first_line(error)}): {fix}')


def check_torch() -> str:
    """torch and torchvision import (torchvision refuses to import when its compiled ops do not fit torch)."""
    try:
        import torch
        import torchvision
    except Exception as error:
        raise _import_failed('torch/torchvision', error) from error
    return f'torch {torch.__version__}, torchvision {torchvision.__version__}'


def check_mmcv() -> str:
    """mmcv is the pinned version and its compiled ops (``mmcv._ext``) load and run with this torch."""
    try:
        import mmcv
    except Exception as error:
        raise _import_failed('mmcv', error) from error
    if mmcv.__version__ != MMCV_VERSION:
        raise InstallCheckError(f'mmcv {mmcv.__version__} is installed but the suite needs {MMCV_VERSION} '
                                f'(mmdet 3.3 and mmseg 1.2 refuse >= 2.2): {INSTALL_FIX}')
    try:
        import torch
        from mmcv.ops import nms, roi_align
    except ModuleNotFoundError as error:
        if error.name == 'mmcv._ext':
            raise InstallCheckError(f'mmcv was installed without compiled ops: {REBUILD_FIX}') from error
        raise _import_failed('mmcv.ops', error) from error
    except Exception as error:
        raise InstallCheckError(f'mmcv compiled ops do not load with torch {torch.__version__} '
                                f'({_first_line(error)}): {REBUILD_FIX}') from error
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    pooled = roi_align(torch.ones(1, 1, 8, 8), torch.tensor([[0., 0., 0., 4., 4.]]), (2, 2))
    if keep.tolist() != [0, 2] or not torch.allclose(pooled, torch.ones(1, 1, 2, 2)):
        raise InstallCheckError(f'mmcv compiled ops give wrong results with torch {torch.__version__}: '
                                f'{REBUILD_FIX}')
    return f'mmcv {mmcv.__version__} (compiled ops)'


def check_mmdet() -> str:
    """mmengine and mmdet's models import (mmdet also checks the mmcv version range)."""
    try:
        import mmdet
        import mmdet.models
        import mmengine
    except Exception as error:
        raise _import_failed('mmdet.models', error) from error
    return f'mmengine {mmengine.__version__}, mmdet {mmdet.__version__}'


def check_mmseg() -> str:
    """mmsegmentation's models import."""
    try:
        import mmseg
        import mmseg.models
    except Exception as error:
        raise _import_failed('mmseg.models', error) from error
    return f'mmseg {mmseg.__version__}'


def check_timm() -> str:
    """timm imports."""
    try:
        import timm
    except Exception as error:
        raise _import_failed('timm', error) from error
    return f'timm {timm.__version__}'


def check_eval_tools() -> str:
    """The COCO and LVIS evaluation APIs import; cyanure (optional) is reported."""
    try:
        import lvis
        import numpy
        import pycocotools.coco
    except Exception as error:
        raise _import_failed('lvis/pycocotools', error) from error
    from importlib.metadata import PackageNotFoundError, version
    try:
        solver = f'cyanure {version("cyanure")}'
    except PackageNotFoundError:
        solver = 'no cyanure (few-shot uses L-BFGS)'
    return f'lvis {version("lvis")}, pycocotools {version("pycocotools")}, numpy {numpy.__version__}, {solver}'


def check_siameseim() -> str:
    """The project itself imports (which also applies ``siameseim.compat``) and its task packages are
    installed beside it (a partial install, e.g. a wheel built without the task folders, fails here)."""
    try:
        import siameseim
    except Exception as error:
        raise _import_failed('siameseim', error, fix=f'{INSTALL_FIX} from the repository root') from error
    root = osp.dirname(osp.abspath(siameseim.__file__))
    for name in TASK_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise InstallCheckError(f'{name} is not installed beside siameseim ({root}): reinstall the project '
                                    f'({INSTALL_FIX}, or pip install the siameseim_suite wheel)')
    tasks = ', '.join(name.rpartition('.')[2] for name in TASK_PACKAGES)
    return f'siameseim {siameseim.__version__} ({root}; tasks {tasks})'


CHECKS: Dict[str, Callable[[], str]] = {
    'torch': check_torch,
    'mmcv': check_mmcv,
    'mmdet': check_mmdet,
    'mmseg': check_mmseg,
    'timm': check_timm,
    'eval-tools': check_eval_tools,
    'siameseim': check_siameseim,
}


def run_checks(names: List[str]) -> List[str]:
    """Run the named checks in order and return their version lines; the first failure raises."""
    return [CHECKS[name]() for name in names]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check', action='append', choices=list(CHECKS), help='run only this check (repeatable)')
    parser.add_argument('--quiet', action='store_true', help='print nothing when the checks pass')
    args = parser.parse_args(argv)
    try:
        summary = run_checks(args.check or list(CHECKS))
    except InstallCheckError as error:
        print(f'verify_install: {error}', file=sys.stderr)
        return 1
    if not args.quiet:
        print(f'Python {sys.version.split()[0]}; ' + '; '.join(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
