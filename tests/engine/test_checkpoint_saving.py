"""Checkpoint saves survive a kill, a full disk and a bad newest file (docs/reliability.md).

Faults are injected into real runs of tools/train.py on a toy regressor (tests/toy_run.py): a SIGKILL while the
checkpoint is written or renamed (subprocess, patched ``LocalBackend.put`` / ``os.replace``), a write that fails
with "no space left" or hits ``ulimit -f``, and a truncated, non-finite or missing newest checkpoint.
"""
import errno
import glob
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.fileio.backends import LocalBackend

import toy_run
from siameseim.atomic import atomic_write, remove_stale_temporaries, write_text_atomically

from siameseim.cli import train

# Fault injections for a subprocess: SIGKILL at one point of the second epoch's checkpoint save.
_KILL = 'import os, signal\nkill = lambda: os.kill(os.getpid(), signal.SIGKILL)\n'
FAULTS = {
    'mid-write': _KILL + (
        'from mmengine.fileio.backends import LocalBackend\n'
        'put = LocalBackend.put\n'
        'def half_then_kill(self, data, path):\n'
        '    if "epoch_2" in str(path):\n'
        '        with open(path, "wb") as file:\n'
        '            file.write(data[:len(data) // 2]); file.flush(); os.fsync(file.fileno())\n'
        '        kill()\n'
        '    return put(self, data, path)\n'
        'LocalBackend.put = half_then_kill\n'),
    'checkpoint-rename': _KILL + (
        'replace = os.replace\n'
        'def kill_on_rename(src, dst, **kwargs):\n'
        '    if str(dst).endswith("epoch_2.pth"):\n'
        '        kill()\n'
        '    return replace(src, dst, **kwargs)\n'
        'os.replace = kill_on_rename\n'),
    'pointer-rename': _KILL + (
        'replace = os.replace\n'
        'def kill_on_rename(src, dst, **kwargs):\n'
        '    if str(dst).endswith("last_checkpoint") and "epoch_2" in open(src).read():\n'
        '        kill()\n'
        '    return replace(src, dst, **kwargs)\n'
        'os.replace = kill_on_rename\n'),
}


def _train(config, work_dir, *options):
    return train.main(toy_run.tool_argv(config, work_dir, *options))


def _partials(folder):
    return glob.glob(osp.join(str(folder), '.*.partial'))


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / 'last_checkpoint'
    write_text_atomically(str(target), 'epoch_1.pth')

    def fail(temporary):
        with open(temporary, 'w') as file:
            file.write('epoch_')
        raise OSError(errno.ENOSPC, 'No space left on device')

    with pytest.raises(OSError, match='No space left'):
        atomic_write(str(target), fail)
    assert target.read_text() == 'epoch_1.pth' and _partials(tmp_path) == []
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    (tmp_path / '.epoch_2.pth.k2j4x_9.partial').write_bytes(b'half')
    (tmp_path / 'epoch_1.pth').write_bytes(b'x')
    (tmp_path / 'notes.partial').write_text('mine')
    assert remove_stale_temporaries(str(tmp_path)) == [str(tmp_path / '.epoch_2.pth.k2j4x_9.partial')]
    assert sorted(os.listdir(tmp_path)) == ['epoch_1.pth', 'notes.partial']


@pytest.mark.parametrize('fault', [
    'mid-write',
    pytest.param('checkpoint-rename', marks=pytest.mark.slow),
    pytest.param('pointer-rename', marks=pytest.mark.slow),
])
def test_kill_during_a_save_leaves_a_resumable_run(fault, tmp_path):
    """max_keep_ckpts=1: mmengine deleted epoch_1 before writing epoch_2, so a kill left nothing to resume."""
    config, work_dir = toy_run.write_config(tmp_path, max_keep_ckpts=1), tmp_path / 'work'
    assert _train(config, work_dir, 'train_cfg.max_epochs=1') == 0

    killed = toy_run.run_tool('train', toy_run.tool_argv(config, work_dir), prelude=FAULTS[fault])
    assert killed.returncode == -9, killed.stderr[-2000:]

    epoch_1, epoch_2 = str(work_dir / 'epoch_1.pth'), str(work_dir / 'epoch_2.pth')
    assert toy_run.checkpoint_iter(epoch_1) == 4  # still there and complete
    assert toy_run.pointer(work_dir) == epoch_1
    if fault == 'pointer-rename':
        assert toy_run.checkpoint_iter(epoch_2) == 8  # renamed into place before the kill
    else:
        assert not osp.exists(epoch_2)

    assert _train(config, work_dir, 'train_cfg.max_epochs=3') == 0
    resumed_from = epoch_2 if fault == 'pointer-rename' else epoch_1
    assert f'auto-resuming from {resumed_from}' in toy_run.log_text(work_dir)
    assert toy_run.checkpoint_iter(str(work_dir / 'epoch_3.pth')) == 12
    assert toy_run.pointer(work_dir) == str(work_dir / 'epoch_3.pth')
    assert _partials(work_dir) == []  # the killed save's temporary file is cleaned up


def test_failed_write_keeps_the_previous_checkpoint_and_stops_in_one_line(tmp_path, monkeypatch, capsys):
    config, work_dir = toy_run.write_config(tmp_path, max_keep_ckpts=1), tmp_path / 'work'
    assert _train(config, work_dir, 'train_cfg.max_epochs=1') == 0
    put = LocalBackend.put

    def no_space(self, data, path):
        if 'epoch_2' in str(path):
            with open(path, 'wb') as file:
                file.write(data[:100])
            raise OSError(errno.ENOSPC, 'No space left on device')
        return put(self, data, path)

    monkeypatch.setattr(LocalBackend, 'put', no_space)
    assert _train(config, work_dir) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f'error: could not write checkpoint {work_dir / "epoch_2.pth"} (No space left on device)')
    assert toy_run.checkpoint_iter(str(work_dir / 'epoch_1.pth')) == 4
    assert toy_run.pointer(work_dir) == str(work_dir / 'epoch_1.pth')
    assert not (work_dir / 'epoch_2.pth').exists() and _partials(work_dir) == []


@pytest.mark.slow
def test_file_size_limit_during_a_save_keeps_the_previous_checkpoint(tmp_path):
    """``ulimit -f`` makes every write past the limit fail with EFBIG, as a full disk fails with ENOSPC."""
    config, work_dir = toy_run.write_config(tmp_path, max_keep_ckpts=1, size_kb=512), tmp_path / 'work'
    assert _train(config, work_dir, 'train_cfg.max_epochs=1') == 0
    assert os.path.getsize(work_dir / 'epoch_1.pth') > 512 * 1024

    limited = toy_run.run_tool('train', toy_run.tool_argv(config, work_dir), limit_file_bytes=256 * 1024)
    assert limited.returncode == 1, limited.stderr[-2000:]
    assert limited.stderr.strip().splitlines()[-1].startswith(
        f'error: could not write checkpoint {work_dir / "epoch_2.pth"} (File too large)')
    assert toy_run.checkpoint_iter(str(work_dir / 'epoch_1.pth')) == 4
    assert toy_run.pointer(work_dir) == str(work_dir / 'epoch_1.pth')
    assert not (work_dir / 'epoch_2.pth').exists() and _partials(work_dir) == []


def _spoil(work_dir, damage):
    newest = work_dir / 'epoch_2.pth'
    if damage == 'truncated':
        newest.write_bytes(newest.read_bytes()[:3000])
    elif damage == 'non-finite':
        checkpoint = torch.load(newest, weights_only=True)
        checkpoint['state_dict']['linear.weight'][0, 0] = float('nan')
        torch.save(checkpoint, newest)
    elif damage == 'not-a-training-checkpoint':
        torch.save({'state_dict': torch.load(newest, weights_only=True)['state_dict']}, newest)


@pytest.mark.parametrize('damage, reason', [
    ('truncated', 'is truncated or corrupted'),
    ('non-finite', 'holds non-finite values (NaN or inf) in 1 tensors (state_dict.linear.weight)'),
    ('not-a-training-checkpoint', 'is not a training checkpoint written by siameseim-train (no meta, message_hub)'),
])
def test_auto_resume_falls_back_to_the_newest_intact_checkpoint(damage, reason, tmp_path):
    config, work_dir = toy_run.write_config(tmp_path, max_keep_ckpts=2), tmp_path / 'work'
    assert _train(config, work_dir) == 0
    _spoil(work_dir, damage)
    assert _train(config, work_dir, 'train_cfg.max_epochs=3') == 0
    log = toy_run.log_text(work_dir)
    line = next(line for line in log.splitlines() if 'auto-resume: skipped' in line)
    assert f'auto-resume: skipped 1 unusable checkpoint(s), newest: {work_dir / "epoch_2.pth"} {reason}' in line
    assert line.endswith(f'resuming from {work_dir / "epoch_1.pth"}, the newest intact one')
    assert toy_run.checkpoint_iter(str(work_dir / 'epoch_3.pth')) == 12


def test_empty_or_dangling_pointer_resumes_from_the_newest_checkpoint(tmp_path):
    """mmengine rewrote last_checkpoint in place: a kill left it empty and resuming failed."""
    config, work_dir = toy_run.write_config(tmp_path, max_keep_ckpts=2), tmp_path / 'work'
    assert _train(config, work_dir) == 0
    (work_dir / 'last_checkpoint').write_text('')
    assert _train(config, work_dir, 'train_cfg.max_epochs=3') == 0
    assert f'auto-resuming from {work_dir / "epoch_2.pth"}' in toy_run.log_text(work_dir)
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_9.pth'))
    assert _train(config, work_dir, 'train_cfg.max_epochs=4') == 0
    assert f'last_checkpoint names {work_dir / "epoch_9.pth"}, which does not exist' in toy_run.log_text(work_dir)
    assert toy_run.checkpoint_iter(str(work_dir / 'epoch_4.pth')) == 16


def test_no_usable_checkpoint_is_one_line_not_a_silent_restart(tmp_path, capsys):
    config, work_dir = toy_run.write_config(tmp_path, max_keep_ckpts=2), tmp_path / 'work'
    assert _train(config, work_dir) == 0
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        (work_dir / name).write_bytes(b'')
    assert _train(config, work_dir, 'train_cfg.max_epochs=3') == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f'error: auto-resume: none of the 2 checkpoints of {work_dir} is usable')
    assert error.endswith('move them away, or start over with --no-resume')


@pytest.fixture
def file_events(monkeypatch):
    """``('write', name)`` for every checkpoint written and ``('delete', name)`` for every file removed, in order."""
    events = []
    put, unlink = LocalBackend.put, os.unlink

    def recording_put(self, data, path):
        events.append(('write', osp.basename(path)))
        return put(self, data, path)

    def recording_unlink(path, *args, **kwargs):
        events.append(('delete', osp.basename(path)))
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(LocalBackend, 'put', recording_put)
    monkeypatch.setattr(os, 'unlink', recording_unlink)
    return events


def _first_write(events, fragment):
    return next(index for index, (kind, name) in enumerate(events) if kind == 'write' and fragment in name)


def test_old_checkpoints_are_deleted_only_after_the_new_one_is_complete(tmp_path, file_events):
    config, work_dir = toy_run.write_config(tmp_path, max_keep_ckpts=2, max_epochs=3), tmp_path / 'work'
    assert _train(config, work_dir) == 0
    assert file_events.index(('delete', 'epoch_1.pth')) > _first_write(file_events, 'epoch_3')
    assert sorted(name for name in os.listdir(work_dir) if name.endswith('.pth')) == ['epoch_2.pth', 'epoch_3.pth']


@pytest.mark.parametrize('task', ['pretrain', 'detection', 'segmentation', 'robustness'])
def test_every_config_saves_with_the_safe_hook_and_loads_with_the_safe_runner(task):
    configs = sorted(glob.glob(str(toy_run.ROOT / task / 'configs' / '*.py')))
    assert configs
    for path in configs:
        cfg = Config.fromfile(path)
        assert cfg.default_hooks.checkpoint.type.endswith('SafeCheckpointHook'), path
        assert cfg.runner_type == 'siameseim.SafeRunner', path


def test_best_checkpoint_is_replaced_only_after_the_new_one_is_written(tmp_path, file_events):
    config = toy_run.write_config(tmp_path, max_epochs=3, extra=(
        "val_dataloader = _loader\nval_cfg = dict(type='ValLoop')\nval_evaluator = dict(type='ToyError')"))
    work_dir = tmp_path / 'work'
    assert _train(config, work_dir, 'default_hooks.checkpoint.save_best=error',
                  'default_hooks.checkpoint.rule=less') == 0
    (best, ) = [name for name in os.listdir(work_dir) if name.startswith('best_')]
    replaced = [(index, name) for index, (kind, name) in enumerate(file_events)
                if kind == 'delete' and name.startswith('best_')]
    assert replaced  # the error fell at least once after the first epoch
    for index, name in replaced:  # each old best goes only after a newer one was written
        newer = [i for i, (kind, written) in enumerate(file_events[:index])
                 if kind == 'write' and 'best_' in written and name not in written]
        assert newer and newer[-1] > _first_write(file_events, name)
    saved = torch.load(work_dir / 'epoch_3.pth', weights_only=True)['message_hub']['runtime_info']['best_ckpt']
    assert saved == str(work_dir / best)
