"""Auto-resume that survives a bad newest checkpoint, and resuming with the config's (new) learning rate.

:func:`find_resumable` validates the newest checkpoint of a work dir (complete, readable, finite, a training
checkpoint) and falls back to the newest intact one, saying so in one line. :func:`rescale_resumed_lr` makes a
resumed run follow the lr of its config: without it the optimizer and scheduler states of the checkpoint bring
back the old lr, so lowering the lr after a divergence would have no effect.
"""
import os
import os.path as osp
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from mmengine.optim import OptimWrapper, OptimWrapperDict

from ..checkpoint import CheckpointError
from .run_checkpoint import read_run_checkpoint

__all__ = ['POINTER_FILE', 'RESUME_WITH_LOWER_LR', 'pointer_target', 'resume_candidates', 'find_resumable',
           'configured_lrs', 'rescale_resumed_lr']

# mmengine's pointer to the newest checkpoint, in the work dir.
POINTER_FILE = 'last_checkpoint'
# How to resume with another lr; named by the NaN guards' messages.
RESUME_WITH_LOWER_LR = ('siameseim-train CONFIG --cfg-options optim_wrapper.optimizer.lr=<lower lr> (a resumed run '
                        'rescales the optimizer and schedules to the config\'s lr, see docs/reliability.md)')
_CHECKPOINT_NAME = re.compile(r'^(epoch|iter)_\d+\.pth$')


def pointer_target(work_dir: str) -> Optional[str]:
    """The checkpoint ``last_checkpoint`` names (None when there is no pointer or it is empty)."""
    pointer = osp.join(work_dir, POINTER_FILE)
    if not osp.isfile(pointer):
        return None
    with open(pointer) as file:
        target = file.read().strip()
    return target or None


def resume_candidates(work_dir: str) -> List[str]:
    """The run's checkpoints, newest (last modified) first: ``epoch_N.pth`` / ``iter_N.pth`` of the work dir and
    of the pointer's folder, plus whatever ``last_checkpoint`` names."""
    target = pointer_target(work_dir)
    folders = {osp.abspath(work_dir)} | ({osp.dirname(osp.abspath(target))} if target else set())
    found = {osp.join(folder, name) for folder in folders if osp.isdir(folder)
             for name in os.listdir(folder) if _CHECKPOINT_NAME.match(name)}
    if target and osp.isfile(target):
        found.add(osp.abspath(target))
    found = {path for path in found if osp.isfile(path)}
    return sorted(found, key=lambda path: (osp.getmtime(path), path), reverse=True)


def find_resumable(work_dir: str, log: Callable[[str], Any]) -> Optional[Tuple[str, Dict[str, Any]]]:
    """``(path, checkpoint)`` of the newest usable checkpoint of ``work_dir``, None when it has none.

    Unusable ones (truncated, unreadable, NaN/inf, not a training checkpoint) are skipped with one ``log`` line;
    when every checkpoint is unusable, :class:`CheckpointError` says so instead of silently starting over.
    """
    candidates = resume_candidates(work_dir)
    target = pointer_target(work_dir)
    if target and not osp.isfile(target):
        log(f'auto-resume: {POINTER_FILE} names {target}, which does not exist; looking for the newest intact '
            f'checkpoint instead')
    skipped: List[str] = []
    for path in candidates:
        try:
            checkpoint = read_run_checkpoint(path, for_resume=True)
        except CheckpointError as err:
            skipped.append(str(err))
            continue
        if skipped:
            log(f'auto-resume: skipped {len(skipped)} unusable checkpoint(s), newest: {skipped[0]}; resuming from '
                f'{path}, the newest intact one')
        return path, checkpoint
    if skipped:
        raise CheckpointError(f'auto-resume: none of the {len(skipped)} checkpoints of {work_dir} is usable '
                              f'(newest: {skipped[0]}): move them away, or start over with --no-resume')
    return None


def _lr_key(group: Dict[str, Any]) -> str:
    return 'initial_lr' if 'initial_lr' in group else 'lr'


def configured_lrs(optim_wrapper: Any) -> Optional[List[float]]:
    """Per parameter group, the base lr the config gives (scheduler start value), before a resume replaces it;
    None when there is no single built optimizer. The groups are those the schedulers see: the optimizer's, plus
    the base-lr tracking group mmengine adds when there are several."""
    if not isinstance(optim_wrapper, OptimWrapper) or isinstance(optim_wrapper, OptimWrapperDict):
        return None
    return [float(group[_lr_key(group)]) for group in optim_wrapper.param_groups]


def rescale_resumed_lr(optim_wrapper: Any, schedulers: Any, configured: Sequence[float]) -> Optional[str]:
    """Scale the resumed lr of every parameter group (and its schedules) to the config's base lr.

    Group ``g`` is multiplied by ``configured[g] / resumed base lr[g]``: its current lr, its ``initial_lr`` and
    the ``base_values`` / last values of every lr scheduler, so the schedule continues from the same point at
    the new scale. Returns a log line when anything changed, None when the lrs already agree.
    """
    groups = optim_wrapper.param_groups
    if len(groups) != len(configured):
        return None
    resumed = [float(group[_lr_key(group)]) for group in groups]
    factors = [new / old if old else 1.0 for new, old in zip(configured, resumed)]
    if all(abs(factor - 1.0) <= 1e-9 for factor in factors):
        return None
    for factor, group in zip(factors, groups):
        group['lr'] *= factor
        if 'initial_lr' in group:
            group['initial_lr'] *= factor
    all_schedulers = sum(schedulers.values(), []) if isinstance(schedulers, dict) else list(schedulers or [])
    for scheduler in all_schedulers:
        if getattr(scheduler, 'param_name', None) != 'lr' or \
                getattr(scheduler, 'optimizer', None) not in (optim_wrapper, optim_wrapper.optimizer):
            continue
        # a scheduler built on the bare optimizer lacks the trailing tracking group: the prefix matches
        scheduler.base_values = [value * factor for value, factor in zip(scheduler.base_values, factors)]
        if getattr(scheduler, '_last_value', None) is not None:
            scheduler._last_value = [value * factor for value, factor in zip(scheduler._last_value, factors)]
    old_base, new_base = max(resumed), max(configured)
    return (f'resumed lr rescaled to the config: base lr {old_base:g} -> {new_base:g} (x{new_base / old_base:g}); '
            f'the optimizer and the lr schedules continue from the resumed step at the new scale')
