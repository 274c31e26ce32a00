"""The GPU JPEG path of the runner (dataset ``decode='gpu'`` + ClassificationDataPreprocessor, checked on the
CPU) matches the PIL path, falls back per image, names bad files; tools/benchmark_eval.py times the runner."""

import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate
from PIL import Image

from siameseim.robustness.datasets import CorruptImageError, ImageNetC, WnidImageFolder
from siameseim.robustness.loading import gpu_decode
from siameseim.robustness.models import ClassificationDataPreprocessor
from siameseim.robustness.transforms import EvalTransform
from siameseim.robustness.cli import benchmark_eval


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


def batch_of(samples, resize, decode):
    dataset = WnidImageFolder('', EvalTransform(224, resize), samples=samples, decode=decode)
    return default_collate([dataset[i] for i in range(len(dataset))])


@pytest.mark.parametrize('resize', [None, 256])
def test_encoded_batches_decode_in_the_preprocessor_like_the_pil_path(jpegs, resize):
    samples = jpegs if resize else jpegs[:1]
    encoded = batch_of(samples, resize, 'gpu')
    assert isinstance(encoded['inputs'][0], bytes) and encoded['path'] == [path for path, _ in samples]
    preprocessor = ClassificationDataPreprocessor()
    decoded = preprocessor(encoded)
    reference = preprocessor(batch_of(samples, resize, 'cpu'))
    assert set(decoded) == {'inputs', 'label'}
    assert decoded['inputs'].shape == reference['inputs'].shape == (len(samples), 3, 224, 224)
    tolerance = 0.005 if resize is None else 0.02  # same libjpeg on the CPU; bicubic kernels differ slightly
    assert (decoded['inputs'] - reference['inputs']).abs().mean() < tolerance
    assert decoded['label'].tolist() == reference['label'].tolist() == [label for _, label in samples]


def test_gpu_decode_needs_the_eval_transform_and_reports_bad_files(jpegs, tmp_path):
    with pytest.raises(ValueError, match="decode='gpu' applies the evaluation transform on the GPU"):
        WnidImageFolder('', EvalTransform(224, 256, interpolation='bilinear'), samples=jpegs, decode='gpu')
    with pytest.raises(ValueError, match='decode must be one of'):
        WnidImageFolder('', EvalTransform(), samples=jpegs, decode='nvjpeg')
    bad = tmp_path / 'bad.JPEG'
    bad.write_bytes(b'\xff\xd8\xff\xe0garbage')
    with pytest.raises(CorruptImageError, match=r'cannot decode image .*bad.JPEG .*re-download'):
        ClassificationDataPreprocessor()(batch_of(jpegs[:2] + [(str(bad), 0)], 256, 'gpu'))


def test_batches_the_batched_decoder_rejects_fall_back_per_image(jpegs, monkeypatch):
    data = [torch.frombuffer(bytearray(open(path, 'rb').read()), dtype=torch.uint8) for path, _ in jpegs]
    paths = [path for path, _ in jpegs]
    expected = gpu_decode(data, paths, torch.device('cpu'))

    def reject(*args, **kwargs):
        raise RuntimeError('nvjpeg: unsupported colour space')

    monkeypatch.setattr('siameseim.robustness.loading.decode_jpeg', reject)
    fallback = gpu_decode(data, paths, torch.device('cpu'))
    assert all(torch.equal(a, b) for a, b in zip(expected, fallback))


def test_imagenet_c_items_carry_corruption_and_severity(tmp_path):
    for corruption, severity in (('fog', 1), ('fog', 5), ('snow', 2), ('speckle_noise', 1)):
        folder = tmp_path / corruption / str(severity) / 'n01440764'
        folder.mkdir(parents=True)
        Image.new('RGB', (40, 40), (10, 20, 30)).save(folder / 'a.JPEG')
    dataset = ImageNetC(str(tmp_path), EvalTransform(32, None))
    assert dataset.groups == [('snow', 2), ('fog', 1), ('fog', 5)]     # CORRUPTIONS order; validation ones unread
    batch = default_collate([dataset[i] for i in range(len(dataset))])
    assert batch['corruption'] == ['snow', 'fog', 'fog'] and batch['severity'].tolist() == [2, 1, 5]
    assert batch['inputs'].shape == (3, 3, 32, 32) and batch['label'].tolist() == [0, 0, 0]
    assert ClassificationDataPreprocessor()(batch).keys() == {'inputs', 'label'}
    with pytest.raises(ValueError, match='speckle_noise: not ImageNet-C test corruptions'):
        ImageNetC(str(tmp_path), corruptions=['speckle_noise'])


def test_benchmark_times_the_runner_path(capsys):
    assert benchmark_eval.main(['--arch', 'vit-t', '--input-size', '32', '--num-images', '16', '--batch-size', '8',
                                '--workers', '0']) == 0
    out = capsys.readouterr().out
    assert 'mmengine runner' in out
    rate = float(out.split('| CPU (PIL, workers)')[1].split('|')[1])
    assert rate > 0
    assert '| GPU (nvJPEG)' in out and ('no CUDA' in out) != torch.cuda.is_available()
    assert benchmark_eval.main(['--num-images', '8', '--batch-size', '8']) == 2
    assert 'fewer than 2 batches' in capsys.readouterr().err
