"""Robustness through mmengine's runner gives exactly the numbers of a direct single-process evaluation
(the algorithm of the evaluator it replaced), on every set and metric, in one process and in two (gloo, with
set sizes a padded distributed sampler has to pad), through tools/eval_robustness.py and tools/test.py."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from siameseim.robustness.datasets import WnidImageFolder, imagenet_c_folders
from siameseim.robustness.evaluate import SET_FOLDERS, benchmark_config, classifier_config, set_config_path
from siameseim.robustness.labels import imagenet_1k_index, subset_indices
from siameseim.robustness.metrics import CORRUPTIONS, SEVERITIES, summarize_imagenet_c
from siameseim.robustness.models import classifier_state_dict
from siameseim.robustness.toy import toy_wnids
from siameseim.robustness.transforms import EvalTransform
from siameseim.registry import MODELS
from siameseim.robustness.cli import eval_robustness

from checkout import REPO_ROOT

ROOT = REPO_ROOT
from siameseim.cli import test as test_tool

TOY_CONFIG = osp.join(ROOT, 'robustness', 'configs', 'vit-tiny_ft-4e_toy.py')
CROP, RESIZE = 32, 37
PER_CLASS = 3   # 3 classes x 3 images = 9 per set, 75 x 3 = 225 ImageNet-C images: odd, so 2 ranks pad


def build_model():
    return MODELS.build(Config.fromfile(TOY_CONFIG).model).eval()


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    """Random images of varied sizes in every set's layout, and a classifier whose predictions vary per
    image among 5 classes (3 of them the data's): hits and misses in every set."""
    root = tmp_path_factory.mktemp('bench')
    rng = np.random.default_rng(0)

    def write(folder, count):
        os.makedirs(folder, exist_ok=True)
        for index in range(count):
            h, w = rng.integers(36, 48, 2)
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(f'{folder}/{index}.JPEG')

    for wnid in toy_wnids(3):
        for name in ('imagenet', 'imagenet-a', 'imagenet-r', 'sketch'):
            write(osp.join(root, SET_FOLDERS[name], wnid), PER_CLASS)
        for corruption in CORRUPTIONS:
            for severity in SEVERITIES:
                write(osp.join(root, 'imagenet-c', corruption, str(severity), wnid), 1)
    torch.manual_seed(0)
    model = build_model()
    classes = [imagenet_1k_index()[wnid] for wnid in toy_wnids(5)]
    with torch.no_grad():
        head = model.backbone.head
        head.weight.zero_()
        head.bias.zero_()
        head.weight[classes] = torch.randn(len(classes), head.weight.shape[1])
        head.bias[classes] = 10.0
    checkpoint = str(root / 'classifier.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    return str(root), checkpoint


@torch.no_grad()
def reference_results(data_root, checkpoint):
    """The replaced evaluator's algorithm, one image at a time: ``100 * hits.double().mean()`` top-k;
    A / R as hendrycks' eval scripts (logits[:, indices_in_1k].argmax against the 200-class target); ImageNet-C
    error ``1 - mean`` per folder, summarised with the val error."""
    model = build_model()
    classifier_state_dict(model, torch.load(checkpoint, weights_only=False))

    def predictions(folder, subset=None, resize=RESIZE):
        dataset = WnidImageFolder(folder, EvalTransform(CROP, resize), subset=subset)
        logits = torch.cat([model(item['inputs'][None]) for item in dataset])
        return logits, torch.as_tensor([item['label'] for item in dataset])

    def percent(hits):
        return 100.0 * hits.double().mean().item()

    results = {}
    for name in ('imagenet', 'sketch'):
        logits, labels = predictions(osp.join(data_root, SET_FOLDERS[name]))
        top5 = (logits.topk(5, dim=1).indices == labels[:, None]).any(dim=1)
        results[name] = dict(images=len(labels), top1=percent(logits.argmax(1) == labels), top5=percent(top5))
    for name, subset in (('imagenet-a', 'a'), ('imagenet-r', 'r')):
        logits, labels = predictions(osp.join(data_root, name), subset)
        indices_in_1k = subset_indices(subset)
        target = torch.as_tensor([indices_in_1k.index(int(label)) for label in labels])  # 200-class target
        results[name] = dict(images=len(labels), top1=percent(logits[:, indices_in_1k].argmax(1) == target))
    errors = {}
    for corruption, by_severity in imagenet_c_folders(osp.join(data_root, 'imagenet-c')).items():
        for severity, folder in by_severity.items():
            logits, labels = predictions(folder, resize=None)
            errors.setdefault(corruption, {})[severity] = 1 - (logits.argmax(1) == labels).double().mean().item()
    results['imagenet-c'] = summarize_imagenet_c(errors, 1 - results['imagenet']['top1'] / 100)
    return results


@pytest.fixture(scope='module')
def reference(bench):
    results = reference_results(*bench)
    assert 0 < results['imagenet-a']['top1'] < 100 and 0 < results['imagenet-c']['mce']   # hits and misses
    return results


def assert_same(results, reference):
    """Every number of the reference, exactly (no tolerance)."""
    for name, expected in reference.items():
        for key, value in expected.items():
            assert results[name][key] == value, (name, key)


def wrapper_args(data_root, checkpoint, out, *extra):
    return [checkpoint, '--config', TOY_CONFIG, '--data-root', data_root, '--out', out, '--input-size', str(CROP),
            '--batch-size', '4', *extra]


def test_wrapper_in_one_process_matches_the_direct_evaluation(bench, reference, tmp_path):
    data_root, checkpoint = bench
    assert eval_robustness.main(wrapper_args(data_root, checkpoint, str(tmp_path), '--workers', '0')) == 0
    results = json.loads((tmp_path / 'results.json').read_text())
    assert_same(results, reference)
    assert results['imagenet-c']['images'] == 75 * 3 and results['imagenet-c']['missing_corruptions'] == []
    assert results['skipped'] == {}


def toy_test_config(tmp_path, data_root, name, **options):
    cfg = benchmark_config(classifier_config(TOY_CONFIG), name, osp.join(data_root, SET_FOLDERS[name]),
                           crop_size=CROP, resize=RESIZE, batch_size=4, num_workers=0, **options)
    path = str(tmp_path / f'{name}.py')
    cfg.dump(path)
    return path


def test_tools_test_scores_imagenet_c_with_the_runner(bench, reference, tmp_path):
    data_root, checkpoint = bench
    clean_top1 = reference['imagenet']['top1']
    config = toy_test_config(tmp_path, data_root, 'imagenet-c', clean_top1=clean_top1)
    out = tmp_path / 'metrics.json'
    assert test_tool.main([config, checkpoint, '--work-dir', str(tmp_path / 'work'), '--out', str(out)]) == 0
    metrics = json.loads(out.read_text())
    for key, value in reference['imagenet-c'].items():
        assert metrics[f'imagenet-c/{key}'] == value, key


def test_shipped_set_configs_are_the_fine_tuning_classifier_with_a_test_set():
    finetune = Config.fromfile(osp.join(ROOT, 'robustness', 'configs', 'vit-b_ft-100e_in1k.py'))
    for name, folder in SET_FOLDERS.items():
        cfg = Config.fromfile(set_config_path(name))
        assert cfg.model.backbone == finetune.model.backbone and cfg.model.num_classes == 1000
        assert cfg.test_dataloader.dataset.root == f'data/{folder}' and cfg.test_dataloader.dataset.decode == 'cpu'
        assert cfg.test_dataloader.sampler == dict(type='DefaultSampler', shuffle=False)
        assert cfg.custom_hooks == [dict(type='ClassifierCheckpointHook')]
        assert cfg.test_evaluator.get('prefix', 'imagenet-c') == name
        large = Config.fromfile(set_config_path(name).replace('vit-b_ft_', 'vit-l_ft_'))
        assert large.model.backbone == Config.fromfile(osp.join(ROOT, 'robustness', 'configs',
                                                                'vit-l_ft-50e_in1k.py')).model.backbone
        assert large.test_dataloader == cfg.test_dataloader and large.test_evaluator == cfg.test_evaluator
    assert Config.fromfile(set_config_path('imagenet-c')).test_dataloader.dataset.transform.resize is None
    assert Config.fromfile(set_config_path('imagenet-a')).test_evaluator.subset == 'a'


def test_tools_test_loads_a_timm_layout_classifier_strictly(bench, reference, tmp_path):
    """A foreign layout (timm / MAE: ``{'model': ViT keys}``) goes through the strict checkpoint hook."""
    data_root, checkpoint = bench
    state = torch.load(checkpoint, weights_only=False)['state_dict']
    torch.save({'model': {key[len('backbone.'):]: value for key, value in state.items()}}, tmp_path / 'timm.pth')
    out = tmp_path / 'metrics.json'
    config = toy_test_config(tmp_path, data_root, 'imagenet-r')
    assert test_tool.main([config, str(tmp_path / 'timm.pth'), '--work-dir', str(tmp_path / 'work'),
                           '--out', str(out)]) == 0
    assert json.loads(out.read_text())['imagenet-r/top1'] == reference['imagenet-r']['top1']


def test_a_checkpoint_that_does_not_fit_is_one_line(bench, tmp_path, capsys):
    data_root, checkpoint = bench
    state = torch.load(checkpoint, weights_only=False)
    del state['state_dict']['backbone.head.weight']
    torch.save(state, tmp_path / 'headless.pth')
    config = toy_test_config(tmp_path, data_root, 'imagenet-a')
    assert test_tool.main([config, str(tmp_path / 'headless.pth'), '--work-dir', str(tmp_path / 'work')]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and 'has no 1000-way classifier head' in err and len(err.splitlines()) == 1
    assert test_tool.main([config, checkpoint, '--work-dir', str(tmp_path / 'work'),
                           '--cfg-options', f'test_dataloader.dataset.root={tmp_path}/nowhere']) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'error: dataset folder {tmp_path}/nowhere does not exist') and len(err.splitlines()) == 1


def run(command, env=None):
    environment = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1', **(env or {}))
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.mark.slow
def test_two_processes_match_the_direct_evaluation(bench, reference, tmp_path):
    """torchrun (gloo) through the wrapper, every set; srun (stand-in) through tools/test.py, ImageNet-C.
    9 and 225 images over 2 ranks with batches of 4: the padded images must be dropped, none lost."""
    from test_distributed import FAKE_SCONTROL, FAKE_SRUN, free_port
    data_root, checkpoint = bench
    out = tmp_path / 'torchrun'
    log = run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
               osp.join(ROOT, 'tools', 'eval_robustness.py'),
               *wrapper_args(data_root, checkpoint, str(out), '--workers', '1', '--launcher', 'pytorch')])
    assert 'GPU number: 2' in log and 'Distributed launcher: pytorch' in log
    assert_same(json.loads((out / 'results.json').read_text()), reference)

    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name, script in (('srun', FAKE_SRUN), ('scontrol', FAKE_SCONTROL)):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    config = toy_test_config(tmp_path, data_root, 'imagenet-c', clean_top1=reference['imagenet']['top1'])
    metrics_file = tmp_path / 'metrics.json'
    log = run(['srun', '--ntasks=2', sys.executable, '-u', osp.join(ROOT, 'tools', 'test.py'), config, checkpoint,
               '--work-dir', str(tmp_path / 'srun'), '--out', str(metrics_file), '--launcher', 'slurm'],
              env=dict(PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}', MASTER_PORT=str(free_port())))
    assert 'GPU number: 2' in log and 'Distributed launcher: slurm' in log
    metrics = json.loads(metrics_file.read_text())
    for key, value in reference['imagenet-c'].items():
        assert metrics[f'imagenet-c/{key}'] == value, key


def suite_robustness(data_root, checkpoint, tmp_path, launcher):
    """The suite's robustness task after a (stand-in) finetune task: its config and last checkpoint."""
    from siameseim.benchmark import SuiteCheckpoint, SuiteContext
    from siameseim.suite.tasks import build_tasks
    finetune_dir = tmp_path / 'finetune'
    finetune_dir.mkdir()
    cfg = Config.fromfile(TOY_CONFIG)
    cfg.test_dataloader.dataset.transform.update(crop_size=CROP, resize=RESIZE)
    cfg.dump(str(finetune_dir / 'ours_finetune.py'))
    (finetune_dir / 'last_checkpoint').write_text(checkpoint)
    ctx = SuiteContext(out_dir=str(tmp_path), data_root=data_root, profile='demo', launcher=launcher, gpus=2,
                       log=lambda line: None)
    (task, ) = build_tasks(['robustness'])
    work_dir = tmp_path / 'robustness'
    work_dir.mkdir()
    result = task.run(SuiteCheckpoint('ours', None), str(work_dir), ctx, {'finetune': {'work_dir': str(finetune_dir)}})
    return result.metrics, json.loads((work_dir / 'results.json').read_text()), work_dir


def assert_suite_metrics(metrics, reference):
    assert metrics == {'imagenet_a_top1': reference['imagenet-a']['top1'],
                       'imagenet_r_top1': reference['imagenet-r']['top1'],
                       'imagenet_sketch_top1': reference['sketch']['top1'],
                       'one_minus_mce': reference['imagenet-c']['one_minus_mce'], 'mce': reference['imagenet-c']['mce']}


@pytest.mark.slow
def test_suite_task_scores_every_set_with_tools_test(bench, reference, tmp_path):
    metrics, results, work_dir = suite_robustness(*bench, tmp_path, 'none')
    assert_same(results, reference)
    assert_suite_metrics(metrics, reference)
    for name in SET_FOLDERS:
        assert (work_dir / name / f'ours_robustness_{name}.py').is_file()


@pytest.mark.slow
def test_suite_task_under_torchrun(bench, reference, tmp_path, monkeypatch):
    """The suite's torchrun launcher (2 processes) on val (for the clean error) and ImageNet-C."""
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    data_root, checkpoint = bench
    subset_root = tmp_path / 'data'
    subset_root.mkdir()
    for name in ('imagenet', 'imagenet-c'):
        (subset_root / name).symlink_to(osp.join(data_root, name))
    metrics, results, work_dir = suite_robustness(str(subset_root), checkpoint, tmp_path, 'pytorch')
    assert_same(results, {name: reference[name] for name in ('imagenet', 'imagenet-c')})
    assert sorted(results['skipped']) == ['imagenet-a', 'imagenet-r', 'sketch']
    assert metrics == {key: reference['imagenet-c'][key] for key in ('one_minus_mce', 'mce')}
    log = (work_dir / 'imagenet-c' / 'test.log').read_text()
    assert 'Distributed launcher: pytorch' in log and 'GPU number: 2' in log
