"""Reading a training run's checkpoint (mmengine layout) and loading its weights strictly into a model.

Every Runner load path of the suite (``load_from``, ``--resume``, auto-resume, ``tools/test.py``) reads through
:func:`siameseim.checkpoint.read_checkpoint` (weights-only unpickling, one-line errors, non-finite tensors
refused) and loads with :func:`load_model_state`, which refuses a checkpoint whose keys or shapes do not fit
the model (a checkpoint of another model or config) instead of loading half of it with a warning.
"""
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import torch.nn as nn

from ..checkpoint import CheckpointError, read_checkpoint, rename_keys
from ..finite import describe_keys

__all__ = ['read_run_checkpoint', 'load_model_state', 'RESUME_KEYS']

# What mmengine's Runner.resume reads besides the weights.
RESUME_KEYS = ('meta', 'state_dict', 'message_hub')


def read_run_checkpoint(path: str, *, for_resume: bool = False) -> Dict[str, Any]:
    """The checkpoint at ``path``, refused in one line when it cannot be read, holds NaN/inf or, with
    ``for_resume``, lacks what resuming needs (an exported backbone, a converted checkpoint)."""
    checkpoint = read_checkpoint(path)
    if for_resume:
        missing = [key for key in RESUME_KEYS if not isinstance(checkpoint.get(key), Mapping)]
        meta = checkpoint.get('meta') or {}
        if not missing and not all(key in meta for key in ('epoch', 'iter')):
            missing = ['meta.epoch/iter']
        if missing:
            raise CheckpointError(f'{path} is not a training checkpoint written by siameseim-train (no '
                                  f'{", ".join(missing)}): resume from one of those, or start from these weights '
                                  f'with load_from (or the backbone\'s pretrained=) and --no-resume')
    return checkpoint


def _state_dict(checkpoint: Mapping[str, Any],
                revise_keys: Sequence[Tuple[str, str]]) -> Dict[str, Any]:
    state = checkpoint['state_dict'] if isinstance(checkpoint.get('state_dict'), Mapping) else checkpoint
    return rename_keys(state, revise_keys)


def load_model_state(model: nn.Module,
                     checkpoint: Mapping[str, Any],
                     source: str,
                     *,
                     strict: bool = True,
                     revise_keys: Sequence[Tuple[str, str]] = ((r'^module\.', ''), )) -> List[str]:
    """Load the checkpoint's ``state_dict`` (or the checkpoint itself) into ``model``.

    Strict: any missing, unexpected or differently shaped key raises :class:`CheckpointError` in one line. Not
    strict: the fitting tensors are loaded and one line per kind of mismatch is returned for the log.
    """
    state = _state_dict(checkpoint, revise_keys)
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    reshaped_keys = [key for key in expected if key in state and hasattr(state[key], 'shape')
                     and tuple(state[key].shape) != tuple(expected[key].shape)]
    reshaped = [f'{key} {list(state[key].shape)} vs {list(expected[key].shape)}' for key in reshaped_keys]
    problems = [f'{len(keys)} {what} ({describe_keys(keys)})'
                for keys, what in ((missing, 'missing keys'), (unexpected, 'unexpected keys'),
                                   (reshaped, 'keys of another shape (checkpoint vs model)')) if keys]
    if strict and problems:
        raise CheckpointError(f'{source} does not fit the model of this config: {"; ".join(problems)}: pass a '
                              f'checkpoint written by a run of this config (or set load_strict=False in the '
                              f'config to load only what fits)')
    fitting = {key: value for key, value in state.items() if key in expected and key not in reshaped_keys}
    model.load_state_dict(fitting, strict=False)
    return [f'{source}: {problem} not loaded' for problem in problems]
