"""SiameseIM Suite core: the shared ViT backbone, checkpoint import and layer-decay optimizer.

Importing the package applies the compatibility fixes (:mod:`siameseim.compat`) and registers the backbone
(``siameseim.ViT``), the optimizer-wrapper constructor, LARS, the checkpoint hook and the runner of
:mod:`siameseim.engine` in the ``siameseim`` registry scope.
"""
from . import compat

compat.apply_all()

from . import optim  # noqa: E402  (registers LayerDecayOptimWrapperConstructor and LARS)
from .checkpoint import CheckpointError, LoadReport, load_pretrained  # noqa: E402
from . import engine  # noqa: E402,F401  (registers SafeCheckpointHook and SafeRunner)
from .models import ViT, build_backbone  # noqa: E402

__version__ = '0.1.0'
__all__ = ['CheckpointError', 'LoadReport', 'ViT', 'build_backbone', 'load_pretrained', '__version__']
