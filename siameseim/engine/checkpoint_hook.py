"""mmengine's CheckpointHook with saves that a kill, a full disk or a diverged run cannot spoil.

* every checkpoint (periodic, last, best) is written to a temporary file, fsynced and renamed into place, and the
  ``last_checkpoint`` pointer likewise, so both always name a complete file;
* checkpoints beyond ``max_keep_ckpts`` (and the previous best) are deleted only after the new one and the
  pointer are in place, so a failed save never leaves fewer complete checkpoints than before;
* a checkpoint whose weights or optimizer state hold NaN/inf is not written: the run stops with one line naming
  the first bad tensors and how to resume from the last (finite) checkpoint with a lower lr. Every rank checks
  before the save, so all ranks of a distributed run stop together;
* a failed write (full disk, quota, permissions) stops the run with one line; partial files of a killed save
  are removed when the next run starts.
"""
import os
import os.path as osp
from collections import deque
from typing import Any, Dict, Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper

from ..atomic import atomic_write, remove_stale_temporaries, write_text_atomically
from ..finite import describe_keys, non_finite_keys
from ..registry import HOOKS
from .resume import POINTER_FILE, RESUME_WITH_LOWER_LR, pointer_target

__all__ = ['SafeCheckpointHook', 'CheckpointSaveError']


class CheckpointSaveError(OSError):
    """A checkpoint could not be written (full disk, quota, permissions); the previous ones are intact."""


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """Drop-in replacement of ``CheckpointHook`` (same arguments) for local work dirs; see the module docstring."""

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not isinstance(self.file_backend, LocalBackend):
            raise ValueError(f'SafeCheckpointHook writes to local folders, not {self.out_dir}: use a local out_dir '
                             f'(or type=CheckpointHook, without atomic saves)')
        if is_main_process():  # checkpoints go to out_dir, the pointer to the work dir
            for folder in dict.fromkeys((self.out_dir, runner.work_dir)):
                for path in remove_stale_temporaries(folder):
                    runner.logger.info(f'removed {path}, left by a checkpoint save that was interrupted')

    _state_checked = False

    def _refuse_non_finite(self, runner, state: Dict[str, Any], iteration: int) -> None:
        """Raise ``FloatingPointError`` when weights or optimizer state hold NaN/inf; nothing is written then."""
        bad = non_finite_keys(state)
        if not bad:
            return
        last = pointer_target(runner.work_dir)
        kept = f'the last checkpoint, {last}, is unchanged' if last else 'there is no earlier checkpoint'
        raise FloatingPointError(
            f'training diverged: {len(bad)} tensors hold NaN or inf at iteration {iteration} ({describe_keys(bad)}); '
            f'no checkpoint was written and {kept}: resume with a lower lr: {RESUME_WITH_LOWER_LR}')

    def _check_state(self, runner, iteration: int) -> None:
        """The finiteness check on every rank (on the model's device) before this hook saves, so that all ranks
        stop together instead of the others waiting for the main one."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        state = {'state_dict': model.state_dict()}
        if self.save_optimizer and isinstance(runner.optim_wrapper, OptimWrapper):
            state['optimizer'] = runner.optim_wrapper.state_dict()
        self._refuse_non_finite(runner, state, iteration)

    def before_save_checkpoint(self, runner, checkpoint: Dict[str, Any]) -> None:
        """Refuse to write weights or optimizer state holding NaN/inf in saves this hook did not check itself."""
        if not self._state_checked:
            self._refuse_non_finite(runner, {key: checkpoint[key] for key in ('state_dict', 'optimizer')
                                             if key in checkpoint}, checkpoint.get('meta', {}).get('iter', runner.iter))

    def _write(self, runner, filename: str, **kwargs: Any) -> str:
        """``runner.save_checkpoint`` into ``out_dir/filename``, atomically (main process only)."""
        path = osp.join(self.out_dir, filename)
        if not is_main_process():
            return path
        self._state_checked = True
        try:
            atomic_write(path, lambda temporary: runner.save_checkpoint(
                self.out_dir, osp.basename(temporary), self.file_client_args, backend_args=self.backend_args,
                **kwargs))
        except OSError as err:
            reason = err.strerror or str(err)
            raise CheckpointSaveError(f'could not write checkpoint {path} ({reason}): free space in (or fix the '
                                      f'permissions of) {self.out_dir}, then resume; the earlier checkpoints '
                                      f'are intact') from None
        finally:
            self._state_checked = False
        return path

    def _remove(self, runner, path: Optional[str]) -> None:
        if path and is_main_process() and osp.isfile(path):
            os.unlink(path)
            runner.logger.info(f'removed the outdated checkpoint {path}')

    def _save_checkpoint_with_step(self, runner, step: int, meta: Dict[str, Any]) -> None:
        self._check_state(runner, meta['iter'])
        expired = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            ids = [*self.keep_ckpt_ids, step]
            expired, kept = ids[:-self.max_keep_ckpts], ids[-self.max_keep_ckpts:]
            self.keep_ckpt_ids = deque(kept, self.max_keep_ckpts)
            runner.message_hub.update_info('keep_ckpt_ids', kept)
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        self._write(runner, filename, save_optimizer=self.save_optimizer,
                    save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch, **self.args)
        if not is_main_process():
            return
        write_text_atomically(osp.join(runner.work_dir, POINTER_FILE), self.last_ckpt)
        for old in expired:
            if old != step:
                self._remove(runner, osp.join(self.out_dir, self.filename_tmpl.format(old)))

    def _save_best_checkpoint(self, runner, metrics: Dict[str, Any]) -> None:
        if not self.save_best:
            return
        step, unit = (runner.epoch, 'epoch') if self.by_epoch else (runner.iter, 'iter')
        meta = dict(epoch=runner.epoch, iter=runner.iter)
        if 'auto' in self.key_indicators:
            self._init_rule(self.rules, [list(metrics.keys())[0]])
        single = len(self.key_indicators) == 1
        updated = False
        for key_indicator, rule in zip(self.key_indicators, self.rules):
            score = metrics[key_indicator]
            score_key = 'best_score' if single else f'best_score_{key_indicator}'
            path_key = 'best_ckpt' if single else f'best_ckpt_{key_indicator}'
            best = runner.message_hub.get_info(score_key, self.init_value_map[rule])
            if score is None or not self.is_better_than[key_indicator](score, best):
                continue
            self._check_state(runner, runner.iter)
            updated = True
            runner.message_hub.update_info(score_key, score)
            previous = self.best_ckpt_path if single else self.best_ckpt_path_dict[key_indicator]
            name = f'best_{key_indicator}_{self.filename_tmpl.format(step)}'.replace('/', '_')
            path = osp.join(self.out_dir, name)
            if single:
                self.best_ckpt_path = path
            else:
                self.best_ckpt_path_dict[key_indicator] = path
            runner.message_hub.update_info(path_key, path)
            self._write(runner, name, save_optimizer=False, save_param_scheduler=False, meta=meta, by_epoch=False)
            if previous != path:
                self._remove(runner, previous)
            runner.logger.info(f'The best checkpoint with {score:0.4f} {key_indicator} at {step} {unit} is saved '
                               f'to {name}.')
        # save the periodic checkpoint again so that its message hub names the new best checkpoint
        if updated and self.last_ckpt is not None:
            self._save_checkpoint_with_step(runner, step, meta)
