"""mmengine's Runner with the suite's checkpoint loading: safe, strict, finite, and with a fallback on resume.

``tools/train.py`` and ``tools/test.py`` build this runner, and the runtime configs name it (``runner_type``) for
tools that honour that key. Compared with mmengine's Runner:

* ``load_from``, ``--resume`` and ``tools/test.py`` read through :func:`siameseim.checkpoint.read_checkpoint`
  (weights-only whatever ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says, one-line errors for empty, random, text or
  truncated files, NaN/inf refused) and load strictly: a checkpoint of another model or config is an error,
  not a warning (``load_strict = False`` in a config loads only what fits);
* auto-resume validates the newest checkpoint and falls back to the newest intact one, saying so in one line;
* a resumed run follows its config's lr (:func:`siameseim.engine.resume.rescale_resumed_lr`).
"""
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import Runner

from ..registry import RUNNERS
from .resume import configured_lrs, find_resumable, rescale_resumed_lr
from .run_checkpoint import load_model_state, read_run_checkpoint

__all__ = ['SafeRunner']


@RUNNERS.register_module()
class SafeRunner(Runner):
    """The Runner of the suite's tools; see the module docstring."""

    _preloaded: Optional[Tuple[str, Dict[str, Any]]] = None

    def load_or_resume(self) -> None:
        """Resume from ``load_from`` or the newest usable checkpoint of the work dir, or load ``load_from``."""
        if self._has_loaded:
            return
        if self._resume and self._load_from is None:
            found = find_resumable(self.work_dir, self.logger.warning)
            if found is None:
                self.logger.info(f'no checkpoint in {self.work_dir} to resume from: starting from scratch')
                return
            self._preloaded = found
            self.logger.info(f'auto-resuming from {found[0]}')
            self.resume(found[0])
        elif self._resume:
            self.resume(self._load_from)
        elif self._load_from is not None:
            self.load_checkpoint(self._load_from)

    def load_checkpoint(self,
                        filename: str,
                        map_location: Union[str, Callable] = 'cpu',
                        strict: Optional[bool] = None,
                        revise_keys: Sequence[Tuple[str, str]] = ((r'^module\.', ''), )) -> Dict[str, Any]:
        """Read ``filename`` with the suite's loader and load its weights (strictly unless the config's
        ``load_strict`` is False); returns the checkpoint. The weights are read on the CPU and copied to the
        model's device, so ``map_location`` has no effect."""
        preloaded, self._preloaded = self._preloaded, None
        if preloaded is not None and preloaded[0] == filename:
            checkpoint = preloaded[1]
        else:
            checkpoint = read_run_checkpoint(filename, for_resume=self._resume)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model
        while is_model_wrapper(model) or isinstance(model, BaseTTAModel):  # DDP, test-time augmentation
            model = model.module
        strict = self.cfg.get('load_strict', True) if strict is None else strict
        for line in load_model_state(model, checkpoint, filename, strict=strict, revise_keys=revise_keys):
            self.logger.warning(line)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def resume(self,
               filename: str,
               resume_optimizer: bool = True,
               resume_param_scheduler: bool = True,
               map_location: Union[str, Callable] = 'default') -> None:
        """mmengine's resume through :meth:`load_checkpoint`, then the lr rescaled to the config's."""
        configured = configured_lrs(self.optim_wrapper)
        super().resume(filename, resume_optimizer, resume_param_scheduler, map_location)
        if resume_optimizer and configured is not None:
            message = rescale_resumed_lr(self.optim_wrapper, self.param_schedulers, configured)
            if message:
                self.logger.info(message)
