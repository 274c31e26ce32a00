"""The suite runner: resumable, skips tasks without data, keeps results.json whole."""
import json

import pytest
import torch

from siameseim.benchmark import SuiteCheckpoint, SuiteContext, Task
from siameseim.suite.runner import load_results, parse_checkpoint_args, run_suite


class CountingTask(Task):

    def __init__(self, name, value, requires=(), interrupt=False, data_missing=None):
        self.name, self.value, self.requires = name, value, requires
        self.interrupt, self.data_missing, self.calls = interrupt, data_missing, 0

    def missing_data(self, ctx):
        return self.data_missing

    def run(self, checkpoint, work_dir, ctx, previous):
        self.calls += 1
        if self.interrupt:
            raise KeyboardInterrupt
        return {'top1': self.value + sum(p['metrics']['top1'] for p in previous.values())}


def test_interrupted_suite_resumes_without_rerunning_finished_tasks(tmp_path):
    ctx = SuiteContext(out_dir=str(tmp_path), data_root=str(tmp_path), log=lambda line: None)
    first, second = CountingTask('finetune', 80.0), CountingTask('linear', 1.0)
    third = CountingTask('robustness', 2.0, requires=('finetune', ), interrupt=True)
    checkpoint = [SuiteCheckpoint('mine', None)]
    with pytest.raises(KeyboardInterrupt):
        run_suite(checkpoint, [first, second, third], ctx)
    saved = load_results(str(tmp_path))
    assert set(saved['checkpoints']['mine']['tasks']) == {'finetune', 'linear'}

    third.interrupt = False
    results = run_suite(checkpoint, [first, second, third], ctx)
    assert (first.calls, second.calls, third.calls) == (1, 1, 2)
    tasks = results['checkpoints']['mine']['tasks']
    assert tasks['robustness']['metrics']['top1'] == pytest.approx(2.0 + 80.0 + 81.0)
    assert json.loads((tmp_path / 'results.json').read_text()) == results
    assert sorted(path.name for path in tmp_path.iterdir()) == ['mine', 'results.json']


def test_missing_data_is_skipped_with_its_reason_and_retried_later(tmp_path):
    lines = []
    ctx = SuiteContext(out_dir=str(tmp_path), data_root=str(tmp_path), log=lines.append)
    coco = CountingTask('coco', 50.0, data_missing='data/coco/annotations/instances_val2017.json is missing')
    dependent = CountingTask('robustness', 1.0, requires=('finetune', ))
    results = run_suite([SuiteCheckpoint('mine', None)], [coco, dependent], ctx)
    assert results['checkpoints']['mine']['tasks']['coco'] == {
        'status': 'skipped', 'reason': 'data/coco/annotations/instances_val2017.json is missing'}
    assert any('skipped: needs the finetune task(s) first' in line for line in lines)
    coco.data_missing = None
    results = run_suite([SuiteCheckpoint('mine', None)], [coco], ctx)
    assert results['checkpoints']['mine']['tasks']['coco']['status'] == 'done' and coco.calls == 1


def test_checkpoint_arguments(tmp_path):
    weights = tmp_path / 'sim.pth'
    torch.save({'weight': torch.zeros(1)}, weights)
    parsed = parse_checkpoint_args([f'ours={weights}', 'baseline=random', str(weights)], 'vit-b')
    assert [(c.name, c.path) for c in parsed] == [('ours', str(weights)), ('baseline', None), ('sim', str(weights))]
    with pytest.raises(FileNotFoundError, match='checkpoint nope.pth of .x. does not exist'):
        parse_checkpoint_args(['x=nope.pth'], 'vit-b')
    with pytest.raises(ValueError, match='sim repeats'):
        parse_checkpoint_args([str(weights), str(weights)], 'vit-b')


def test_corrupt_results_file_names_the_fix(tmp_path):
    (tmp_path / 'results.json').write_text('{"checkpoints": ')
    with pytest.raises(ValueError, match='not valid JSON .*move it away'):
        load_results(str(tmp_path))


def test_a_failing_task_is_recorded_and_the_suite_goes_on(tmp_path):
    lines = []
    ctx = SuiteContext(out_dir=str(tmp_path), data_root=str(tmp_path), log=lines.append)

    class Broken(CountingTask):
        def run(self, checkpoint, work_dir, ctx, previous):
            self.calls += 1
            raise ValueError('no linear config for arch vit-l: available for vit-b\nsecond line')

    broken, after = Broken('linear', 0.0), CountingTask('coco', 50.0)
    results = run_suite([SuiteCheckpoint('mine', None)], [broken, after], ctx)
    tasks = results['checkpoints']['mine']['tasks']
    assert tasks['linear']['status'] == 'failed'
    assert tasks['linear']['reason'] == 'ValueError: no linear config for arch vit-l: available for vit-b'
    assert tasks['coco']['status'] == 'done'
    assert any('linear: FAILED: ValueError' in line for line in lines)
    run_suite([SuiteCheckpoint('mine', None)], [broken, after], ctx)
    assert (broken.calls, after.calls) == (2, 1)


def test_metrics_without_a_value_are_left_out(tmp_path):
    ctx = SuiteContext(out_dir=str(tmp_path), data_root=str(tmp_path), log=lambda line: None)

    class Partial(CountingTask):
        def run(self, checkpoint, work_dir, ctx, previous):
            return {'imagenet_a_top1': 40.0, 'one_minus_mce': None}

    results = run_suite([SuiteCheckpoint('mine', None)], [Partial('robustness', 0.0)], ctx)
    assert results['checkpoints']['mine']['tasks']['robustness']['metrics'] == {'imagenet_a_top1': 40.0}
