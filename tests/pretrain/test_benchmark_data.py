"""The input-pipeline benchmark: generated JPEGs look like ImageNet files, and a small run prints every figure."""
import os.path as osp

import numpy as np
import torch
from PIL import Image

from siameseim.pretrain.data.photo_like import write_imagenet_like_jpegs
from siameseim.pretrain.cli import benchmark_data


def test_generated_jpegs_have_imagenet_sizes_and_photo_statistics(tmp_path):
    paths = write_imagenet_like_jpegs(str(tmp_path), 6, seed=1)
    assert len(paths) == 6
    for path in paths:
        with Image.open(path) as image:
            assert image.format == 'JPEG' and all(333 <= side <= 640 for side in image.size)
            pixels = np.asarray(image.convert('RGB'), dtype=float)
        # smooth structure: neighbouring pixels are far closer than random pixels
        assert np.abs(np.diff(pixels, axis=1)).mean() < 0.5 * np.abs(pixels - pixels.mean((0, 1))).mean()
        assert 30 < osp.getsize(path) / 1024 < 300   # about 110 KiB on average at quality 90


def test_small_run_prints_both_pipelines_ratio_loader_and_load(capsys):
    threads = torch.get_num_threads()
    assert benchmark_data.main(['--num-images', '4', '--rounds', '1', '--block', '2', '--workers', '1',
                                '--loader-images', '4', '--batch-size', '2']) == 0
    out = capsys.readouterr().out
    for expected in ('generated photo-like JPEGs', 'pil:', 'fast:', 'fast-full-decode:', 'vs pil',
                     'reduced JPEG decode applies', 'DataLoader, 1 worker processes', 'fast/pil x', 'load average'):
        assert expected in out, expected
    assert torch.get_num_threads() == threads


def test_bad_arguments_fail_in_one_line(capsys, tmp_path):
    assert benchmark_data.main(['--config', str(tmp_path / 'nope.py')]) == 2
    assert benchmark_data.main(['--data', str(tmp_path / 'missing')]) == 2
    assert benchmark_data.main(['--rounds', '0']) == 2
    assert benchmark_data.main(['--sides', '640', '333']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith(f'error: config file {tmp_path / "nope.py"} does not exist: pass a path like ')
    assert err[1:] == [f'error: --data {tmp_path / "missing"} is not a directory', 'error: --rounds must be at least 1',
                       'error: --sides needs 16 <= MIN <= MAX, got 640 333']
