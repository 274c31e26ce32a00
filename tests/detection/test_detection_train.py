"""End to end on the toy data: tools/train.py and tools/test.py with the real configs scaled down, the fp16
DDP compression hook, and the benchmark script's CPU smoke mode."""
import json
import math
import os
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config
from torch.nn.parallel import DistributedDataParallel

from siameseim.detection.hooks import Fp16CompressionHook
from siameseim.detection.toy import COCO_CATEGORIES, LVIS_CATEGORIES, make_toy_coco, make_toy_lvis, scale_down
from siameseim.detection.cli import benchmark_detection

from checkout import REPO_ROOT

REPO = REPO_ROOT
from siameseim.cli import test as test_tool
from siameseim.cli import train as train_tool

CONFIG_DIR = osp.join(REPO, 'detection', 'configs')



def toy_config(tmp_path, name, lvis):
    root = make_toy_lvis(str(tmp_path / 'data'), rare_in_val=True) if lvis else make_toy_coco(str(tmp_path / 'data'))
    cfg = scale_down(Config.fromfile(osp.join(CONFIG_DIR, name)), root, image_size=64, max_iters=2,
                     categories=LVIS_CATEGORIES if lvis else COCO_CATEGORIES)
    path = str(tmp_path / name)
    cfg.dump(path)
    return path


def train_and_test(tmp_path, name, lvis):
    config = toy_config(tmp_path, name, lvis)
    work_dir = str(tmp_path / 'work')
    assert train_tool.main([config, '--work-dir', work_dir]) == 0
    log = [json.loads(line) for line in open(next(
        osp.join(root, f) for root, _, files in os.walk(work_dir) for f in files if f.endswith('.json')))]
    losses = [entry['loss'] for entry in log if 'loss' in entry]
    assert len(losses) == 2 and all(math.isfinite(value) for value in losses)
    out = str(tmp_path / 'metrics.json')
    assert test_tool.main([config, osp.join(work_dir, 'iter_2.pth'), '--work-dir', work_dir, '--out', out]) == 0
    return json.load(open(out))


@pytest.mark.slow
def test_coco_train_and_test_tools(tmp_path):
    metrics = train_and_test(tmp_path, 'mask-rcnn_vit-b_lsj-100e_coco.py', lvis=False)
    assert {'coco/bbox_mAP', 'coco/segm_mAP'} <= set(metrics)


@pytest.mark.slow
def test_lvis_train_and_test_tools(tmp_path):
    metrics = train_and_test(tmp_path, 'mask-rcnn_vit-b_lsj-100e_lvis-v1.py', lvis=True)
    assert {f'lvis/{t}_{k}' for t in ('bbox', 'segm') for k in ('AP', 'APr', 'APc', 'APf')} <= set(metrics)
    # val holds rare ground truth: every frequency group is scored (-1 would mean none was)
    assert all(0 <= metrics[f'lvis/{t}_{k}'] <= 1 for t in ('bbox', 'segm') for k in ('APr', 'APc', 'APf'))


def test_fp16_compression_hook_rounds_ddp_gradients(tmp_path):
    # a file rendezvous: one process needs no port, so none can be taken by another process meanwhile
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "rendezvous"}', rank=0, world_size=1)
    try:
        layer = torch.nn.Linear(4, 1, bias=False)
        model = DistributedDataParallel(layer)
        hook = Fp16CompressionHook()
        hook.before_train(SimpleNamespace(model=model))
        hook.before_train(SimpleNamespace(model=model))  # registering twice would raise in DDP
        x = torch.tensor([[1.0 + 2**-20, 3.0, 1e-3 + 1e-9, 7.0]])
        model(x).sum().backward()
        grad = layer.weight.grad
        torch.testing.assert_close(grad, x.half().float(), rtol=0, atol=0)
        assert not torch.equal(grad, x)
    finally:
        dist.destroy_process_group()


def test_fp16_compression_hook_without_ddp_is_a_no_op():
    model = torch.nn.Linear(2, 2)
    Fp16CompressionHook().before_train(SimpleNamespace(model=model))
    assert not hasattr(model, '_fp16_compression')


def test_benchmark_smoke_reports_both_paths_and_the_speed_up_of_known_timings(tmp_path, capsys, monkeypatch):
    """Both paths run their training steps; with step times fixed at 0.25 s (fast) and 1 s (slow) for batch 2,
    the report must read 8 and 2 img/s and a 4.00x speed-up."""
    seconds = iter([0.25, 1.0])  # measure() runs the fast path first
    calls = []

    def fixed_time_steps(step, warmup, iters, device):
        for _ in range(warmup + iters):
            step()
        calls.append(warmup + iters)
        return next(seconds), float('nan')

    monkeypatch.setattr(benchmark_detection, 'time_steps', fixed_time_steps)
    out = str(tmp_path / 'bench.json')
    assert benchmark_detection.main(['--device', 'cpu', '--tiny', '--batch-size', '2', '--iters', '1',
                                     '--warmup', '0', '--json', out]) == 0
    assert calls == [1, 1]
    printed = capsys.readouterr().out
    assert 'fast (sdpa' in printed and 'slow (eager, fp32)' in printed and 'speed-up fast/slow: 4.00x' in printed
    result = json.load(open(out))
    assert result['fast']['img_per_s'] == 8.0 and result['slow']['img_per_s'] == 2.0 and result['speedup'] == 4.0
    assert math.isfinite(result['fast']['last_loss']) and math.isfinite(result['slow']['last_loss'])
