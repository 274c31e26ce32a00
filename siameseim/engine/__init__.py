"""Training-engine pieces of the suite: the checkpoint hook that saves safely and the Runner that loads safely.

Importing the package registers ``SafeCheckpointHook`` (hooks) and ``SafeRunner`` (runners) in the
``siameseim`` registry scope.
"""
from .checkpoint_hook import CheckpointSaveError, SafeCheckpointHook
from .resume import RESUME_WITH_LOWER_LR, find_resumable, rescale_resumed_lr
from .run_checkpoint import load_model_state, read_run_checkpoint
from .runner import SafeRunner

__all__ = ['CheckpointSaveError', 'SafeCheckpointHook', 'SafeRunner', 'RESUME_WITH_LOWER_LR', 'find_resumable',
           'rescale_resumed_lr', 'load_model_state', 'read_run_checkpoint']
