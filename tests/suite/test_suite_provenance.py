"""Provenance in results.json: weights hashes, configs, seeds, devices, software; a changed file is refused."""
import hashlib
import json

import pytest
import torch

from checkpoint_formats import mae
from siameseim.suite.provenance import HASH_CACHE, file_sha256, provenance_footer
from siameseim.benchmark import SuiteCheckpoint, SuiteContext, Task, TaskResult
from siameseim.suite.runner import run_suite


class ConfigWritingTask(Task):
    name = 'linear'

    def run(self, checkpoint, work_dir, ctx, previous):
        config = f'{work_dir}/linear.py'
        with open(config, 'w') as f:
            f.write('max_epochs = 4\n')
        with open(f'{work_dir}/metrics.json', 'w') as f:
            json.dump({'top1': 70.0}, f)
        return TaskResult(metrics={'top1': 70.0}, runs={'top1': [69.0, 71.0]}, seeds=[0, 1], configs=[config],
                          metric_files=[f'{work_dir}/metrics.json'])


def test_sha256_of_a_known_file_is_streamed_and_cached_by_size_and_mtime(tmp_path):
    data = tmp_path / 'weights.pth'
    data.write_bytes(b'abc')
    expected = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    assert file_sha256(str(data), str(tmp_path)) == expected
    cache = json.loads((tmp_path / HASH_CACHE).read_text())
    assert list(cache.values()) == [expected]
    key = next(iter(cache))
    (tmp_path / HASH_CACHE).write_text(json.dumps({key: 'cached'}))
    assert file_sha256(str(data), str(tmp_path)) == 'cached'
    data.write_bytes(b'abcd')
    assert file_sha256(str(data), str(tmp_path)) == hashlib.sha256(b'abcd').hexdigest()


def test_results_record_checkpoint_task_and_run_provenance(tmp_path):
    weights = tmp_path / 'mae.pth'
    torch.save(mae().checkpoint, weights)
    ctx = SuiteContext(out_dir=str(tmp_path / 'out'), data_root=str(tmp_path), log=lambda line: None,
                       extra=dict(device='cpu'))
    results = run_suite([SuiteCheckpoint('mae', str(weights))], [ConfigWritingTask()], ctx)
    entry = results['checkpoints']['mae']
    assert entry['sha256'] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert entry['format'] == 'mae' and entry['detected_arch']['embed_dim'] == 192
    task = entry['tasks']['linear']
    config = tmp_path / 'out' / 'mae' / 'linear' / 'linear.py'
    assert task['configs'] == [{'path': str(config), 'sha256': hashlib.sha256(config.read_bytes()).hexdigest()}]
    assert task['seeds'] == [0, 1] and task['runs'] == {'top1': [69.0, 71.0]} and task['run'] == 0
    assert task['metric_files'][0].endswith('metrics.json') and 'cores' in task['device']
    run = results['runs'][0]
    assert run['libraries']['torch'] in (torch.__version__, torch.__version__.split('+')[0])
    assert run['python'].count('.') == 2 and run['date'].startswith('20') and run['cpu']
    assert all(run['libraries'].values()) and run['version']
    footer = provenance_footer(results)
    assert f"sha256 {entry['sha256'][:16]}" in footer and 'run 0:' in footer


def test_a_different_checkpoint_under_a_recorded_name_is_refused_and_nothing_is_written(tmp_path):
    weights = tmp_path / 'mae.pth'
    torch.save(mae().checkpoint, weights)
    ctx = SuiteContext(out_dir=str(tmp_path / 'out'), data_root=str(tmp_path), log=lambda line: None)
    run_suite([SuiteCheckpoint('mine', str(weights))], [ConfigWritingTask()], ctx)
    before = (tmp_path / 'out' / 'results.json').read_text()
    run_suite([SuiteCheckpoint('mine', str(weights))], [ConfigWritingTask()], ctx)  # same file: merges

    changed = mae().checkpoint
    changed['model']['cls_token'] = changed['model']['cls_token'] + 1
    torch.save(changed, weights)
    after_rerun = (tmp_path / 'out' / 'results.json').read_text()
    with pytest.raises(ValueError, match="already holds 'mine' from a different checkpoint"):
        run_suite([SuiteCheckpoint('mine', str(weights))], [ConfigWritingTask()], ctx)
    assert (tmp_path / 'out' / 'results.json').read_text() == after_rerun == before
    with pytest.raises(ValueError, match='different checkpoint'):
        run_suite([SuiteCheckpoint('mine', None)], [ConfigWritingTask()], ctx)


def test_cli_refuses_in_one_line(tmp_path, capsys):
    from siameseim.suite.cli import main
    first, second = tmp_path / 'a.pth', tmp_path / 'b.pth'
    torch.save(mae().checkpoint, first)
    changed = mae().checkpoint
    changed['model']['cls_token'] = changed['model']['cls_token'] + 1
    torch.save(changed, second)
    out = str(tmp_path / 'out')
    assert main(['bench', '--checkpoint', f'x={first}', '--tasks', 'coco', '--data-root', str(tmp_path),
                 '--out', out]) == 1  # coco skipped (no data): recorded, exit 1
    assert main(['bench', '--checkpoint', f'x={second}', '--tasks', 'coco', '--data-root', str(tmp_path),
                 '--out', out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: results.json already holds 'x'") and err.count('\n') == 1
