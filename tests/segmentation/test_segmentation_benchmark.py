"""The segmentation benchmark: its baseline is mmseg's own MAE UperNet from the wheel, and the CPU smoke run
prints figures for both models measured in the same run."""
import os.path as osp

from mmengine.config import Config

from siameseim.segmentation.cli import benchmark_segmentation



def test_baseline_is_mmseg_mae_upernet_from_the_wheel():
    assert osp.isfile(benchmark_segmentation.MMSEG_CONFIG)
    cfg = Config.fromfile(benchmark_segmentation.MMSEG_CONFIG)
    assert cfg.model.backbone.type == 'MAE' and cfg.model.decode_head.type == 'UPerHead'
    assert tuple(cfg.model.backbone.img_size) == (512, 512) and cfg.model.decode_head.channels == 768


def test_cpu_smoke_run_prints_both_models_and_the_ratio(capsys):
    assert benchmark_segmentation.main(
        ['--tiny', '--device', 'cpu', '--batch-size', '2', '--warmup', '0', '--iters', '1']) == 0
    out = capsys.readouterr().out
    assert 'suite:' in out and 'mmseg MAE:' in out and 'mae-base_upernet' in out
    assert 'ratio suite/mmseg:' in out and 'img/s' in out
