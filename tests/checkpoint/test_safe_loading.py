"""tools/test.py, --resume and load_from load through the suite's loader: weights-only whatever the environment
says, strict, with one-line errors for files that are not a usable checkpoint of the config (docs/reliability.md).
"""
import os
import random

import pytest
import torch

import toy_run
from siameseim import compat
from siameseim.compat import UnsafeLoadWarning

from siameseim.cli import test as test_tool
from siameseim.cli import train

PATHS = ('test', 'resume', 'load_from')
PROBLEMS = {
    'empty': 'is empty: re-download or re-save the checkpoint',
    'random': 'is not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle)',
    'text': 'is not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle)',
    'non-finite': 'holds non-finite values (NaN or inf) in 1 tensors (state_dict.linear.bias)',
    'other-run': ('does not fit the model of this config: 2 keys of another shape (checkpoint vs model) '
                  '(linear.weight [3, 2] vs [1, 2], linear.bias [3] vs [1])'),
}


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """A finished toy run (its config and epoch_1.pth) and a run of another model (3 outputs instead of 1)."""
    folder = tmp_path_factory.mktemp('runs')
    config = toy_run.write_config(folder, max_epochs=1)
    other = toy_run.write_config(folder, 'other', max_epochs=1, outputs=3)
    for cfg, work_dir in ((config, folder / 'mine'), (other, folder / 'other')):
        assert train.main(toy_run.tool_argv(cfg, work_dir)) == 0
    return config, folder / 'mine' / 'epoch_1.pth', folder / 'other' / 'epoch_1.pth'


def _bad_file(kind, folder, runs):
    path = folder / f'{kind}.pth'
    if kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'random':
        path.write_bytes(random.Random(0).randbytes(4096))
    elif kind == 'text':
        path.write_text('checkpoint: epoch_1.pth\n')
    elif kind == 'non-finite':
        checkpoint = torch.load(runs[1], weights_only=True)
        checkpoint['state_dict']['linear.bias'][0] = float('nan')
        torch.save(checkpoint, path)
    elif kind == 'other-run':
        path.write_bytes(runs[2].read_bytes())
    return path


def _load(path, config, checkpoint, work_dir):
    """Run the tool that loads ``checkpoint`` by the given path; returns its exit code."""
    if path == 'test':
        return test_tool.main(toy_run.tool_argv(config, work_dir, checkpoint=checkpoint))
    if path == 'resume':
        return train.main([*toy_run.tool_argv(config, work_dir), '--resume', str(checkpoint)])
    return train.main([*toy_run.tool_argv(config, work_dir, f'load_from={checkpoint}'), '--no-resume'])


@pytest.mark.parametrize('kind', list(PROBLEMS))
@pytest.mark.parametrize('path', PATHS)
def test_unusable_checkpoint_is_one_line_naming_file_and_problem(path, kind, runs, tmp_path, capsys):
    checkpoint = _bad_file(kind, tmp_path, runs)
    assert _load(path, runs[0], checkpoint, tmp_path / 'work') == 2
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    errors = [line for line in err.splitlines() if line.startswith('error:')]
    assert len(errors) == 1 and errors[0].startswith(f'error: {checkpoint} {PROBLEMS[kind]}')


class Payload:
    """Unpickling this creates a folder: the proof that a file ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker, )


@pytest.mark.parametrize('path', PATHS + ('mmengine-loader', ))
def test_no_payload_runs_with_torch_force_no_weights_only_load(path, runs, tmp_path, monkeypatch, capsys):
    marker = tmp_path / 'payload-ran'
    checkpoint = tmp_path / 'payload.pth'
    torch.save({'state_dict': torch.load(runs[1], weights_only=True)['state_dict'], 'meta': Payload(marker)},
               checkpoint)
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    monkeypatch.setattr(compat, '_unsafe_load_warned', False)
    with pytest.warns(UnsafeLoadWarning, match='TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD is set: SiameseIM Suite ignores it'):
        if path == 'mmengine-loader':  # what init_cfg=dict(type='Pretrained') and other mmengine code call
            from mmengine.runner.checkpoint import _load_checkpoint
            with pytest.raises(Exception, match='[Uu]nsupported (global|GLOBAL)'):
                _load_checkpoint(str(checkpoint))
        else:
            assert _load(path, runs[0], checkpoint, tmp_path / 'work') == 2
            errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith('error:')]
            assert len(errors) == 1 and errors[0].startswith(f'error: {checkpoint} ')
    assert not marker.exists()


def test_load_strict_false_loads_what_fits_and_logs_the_rest(runs, tmp_path):
    checkpoint = torch.load(runs[1], weights_only=True)
    checkpoint['state_dict']['extra.weight'] = torch.zeros(2)
    path = tmp_path / 'extra.pth'
    torch.save(checkpoint, path)
    assert test_tool.main(toy_run.tool_argv(runs[0], tmp_path / 'strict', checkpoint=path)) == 2
    assert test_tool.main(toy_run.tool_argv(runs[0], tmp_path / 'loose', 'load_strict=False', checkpoint=path)) == 0
    assert f'{path}: 1 unexpected keys (extra.weight) not loaded' in toy_run.log_text(tmp_path / 'loose')


def test_resume_from_weights_without_training_state_says_what_to_do(runs, tmp_path, capsys):
    path = tmp_path / 'weights.pth'
    torch.save({'state_dict': torch.load(runs[1], weights_only=True)['state_dict']}, path)
    assert _load('resume', runs[0], path, tmp_path / 'work') == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f'error: {path} is not a training checkpoint written by siameseim-train (no meta, message_hub): resume '
        f"from one of those, or start from these weights with load_from (or the backbone's pretrained=) and "
        f'--no-resume')
