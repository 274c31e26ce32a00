"""Evaluation loaders: the GPU-decode path's decode + transform (checked on the CPU) matches the PIL path,
and tools/benchmark_eval.py reports both paths."""
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from robustness.datasets import CorruptImageError
from robustness.loading import EncodedImageFolder, GpuEvalTransform, collate_encoded, gpu_decode, iterate_batches
from robustness.transforms import EvalTransform
from tool_modules import load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
benchmark_eval = load_tool('benchmark_eval')


@pytest.fixture()
def jpegs(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for index, size in enumerate([(224, 224), (300, 260), (256, 320)]):
        smooth = Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)
        path = tmp_path / f'{index}.JPEG'
        smooth.save(path, quality=95)
        paths.append((str(path), index))
    png = tmp_path / 'x.png'
    Image.fromarray(rng.integers(0, 255, (230, 240), dtype=np.uint8), mode='L').save(png)
    paths.append((str(png), 7))
    return paths


@pytest.mark.parametrize('resize', [None, 256])
def test_tensor_decode_path_matches_pil_path(jpegs, resize):
    samples = jpegs if resize else jpegs[:1]
    data, labels, paths = collate_encoded([EncodedImageFolder(samples)[i] for i in range(len(samples))])
    batch = GpuEvalTransform(224, resize)(gpu_decode(data, paths, torch.device('cpu')))
    reference = torch.stack([EvalTransform(224, resize)(Image.open(p).convert('RGB')) for p, _ in samples])
    assert batch.shape == reference.shape == (len(samples), 3, 224, 224)
    tolerance = 0.005 if resize is None else 0.02  # same libjpeg on the CPU; bicubic kernels differ slightly
    assert (batch - reference).abs().mean() < tolerance
    assert labels.tolist() == [label for _, label in samples]


def test_gpu_decode_requires_cuda_and_reports_bad_files(jpegs, tmp_path):
    with pytest.raises(ValueError, match='needs a CUDA device'):
        next(iterate_batches(jpegs, None, decode='gpu', device=torch.device('cpu'), batch_size=2, num_workers=0))
    bad = tmp_path / 'bad.JPEG'
    bad.write_bytes(b'\xff\xd8\xff\xe0garbage')
    data, _, paths = collate_encoded([EncodedImageFolder(jpegs[:2] + [(str(bad), 0)])[i] for i in range(3)])
    with pytest.raises(CorruptImageError, match=r'cannot decode image .*bad.JPEG .*re-download'):
        gpu_decode(data, paths, torch.device('cpu'))


def test_batches_the_batched_decoder_rejects_fall_back_per_image(jpegs, monkeypatch):
    data, _, paths = collate_encoded([EncodedImageFolder(jpegs)[i] for i in range(len(jpegs))])
    expected = gpu_decode(data, paths, torch.device('cpu'))

    def reject(*args, **kwargs):
        raise RuntimeError('nvjpeg: unsupported colour space')

    monkeypatch.setattr('robustness.loading.decode_jpeg', reject)
    fallback = gpu_decode(data, paths, torch.device('cpu'))
    assert all(torch.equal(a, b) for a, b in zip(expected, fallback))


def test_benchmark_prints_both_paths(capsys):
    assert benchmark_eval.main(['--device', 'cpu', '--arch', 'none', '--num-images', '16', '--batch-size', '8',
                                '--workers', '0']) == 0
    out = capsys.readouterr().out
    rate = float(out.split('| CPU (PIL, workers)')[1].split('|')[1])
    assert rate > 0
    assert '| GPU (nvJPEG)' in out and ('no CUDA' in out) != torch.cuda.is_available()
