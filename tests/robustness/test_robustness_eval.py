"""End to end: fine-tune a tiny classifier on the CPU with tools/train.py, then evaluate it with
tools/eval_robustness.py on every benchmark layout (ImageNet val, -A, -R, -Sketch, -C) of a toy data root."""
import json
import os.path as osp

import pytest
import torch

from mmengine.config import Config

from siameseim.robustness.datasets import WnidImageFolder
from siameseim.robustness.labels import subset_indices, subset_wnids
from siameseim.robustness.metrics import ALEXNET_ERRORS, CORRUPTIONS
from siameseim.robustness.models import ImageClassifier, classifier_state_dict
from siameseim.robustness.toy import make_toy_benchmarks
from siameseim.robustness.transforms import EvalTransform
from siameseim.checkpoint import read_checkpoint
from siameseim.registry import MODELS
from siameseim.robustness.cli import eval_robustness

from checkout import REPO_ROOT

ROOT = REPO_ROOT
from siameseim.cli import train

FT_CONFIG = osp.join(ROOT, 'robustness', 'configs', 'vit-tiny_ft-4e_toy.py')
LINEAR_CONFIG = osp.join(ROOT, 'robustness', 'configs', 'vit-tiny_linear-4e_toy.py')


def build_classifier(checkpoint, config):
    """The classifier of ``config`` with the weights of ``checkpoint``, loaded strictly, in eval mode."""
    model = MODELS.build(Config.fromfile(config).model)
    classifier_state_dict(model, read_checkpoint(checkpoint, trust_pickle=True), checkpoint)
    return model.eval()


def train_toy(config, data, work_dir, epochs=4):
    options = [f'{loader}.dataset.root={data}/imagenet/{split}'
               for loader, split in (('train_dataloader', 'train'), ('val_dataloader', 'val'),
                                     ('test_dataloader', 'val'))]
    assert train.main([config, '--work-dir', str(work_dir), '--no-resume', '--cfg-options', *options,
                       f'train_cfg.max_epochs={epochs}']) == 0
    return osp.join(str(work_dir), f'epoch_{epochs}.pth')


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    data = tmp_path_factory.mktemp('data')
    make_toy_benchmarks(str(data))
    checkpoint = train_toy(FT_CONFIG, data, tmp_path_factory.mktemp('ft'))
    return str(data), checkpoint


def reference_top1(model, folder, subset=None, resize=37):
    """Independent per-image evaluation: 1k labels, argmax over all or over the subset's columns."""
    dataset = WnidImageFolder(folder, EvalTransform(crop_size=32, resize=resize),
                              allowed_wnids=subset_wnids(subset) if subset else None)
    correct = 0
    with torch.no_grad():
        for item in dataset:
            logits = model(item['inputs'][None])[0]
            if subset:
                allowed = torch.full_like(logits, float('-inf'))
                allowed[subset_indices(subset)] = 0
                logits = logits + allowed
            correct += int(logits.argmax()) == item['label']
    return 100.0 * correct / len(dataset)


@pytest.mark.slow
def test_finetuned_classifier_on_every_benchmark(toy, tmp_path, capsys):
    data, checkpoint = toy
    out = tmp_path / 'out'
    assert eval_robustness.main([checkpoint, '--config', FT_CONFIG, '--data-root', data, '--out', str(out),
                                 '--input-size', '32', '--workers', '0']) == 0
    results = json.loads((out / 'results.json').read_text())
    assert (out / 'results.md').read_text().count('| gaussian_noise |') == 1
    assert results['skipped'] == {}
    model = build_classifier(checkpoint, FT_CONFIG)
    for name, folder, subset in (('imagenet', 'imagenet/val', None), ('imagenet-a', 'imagenet-a', 'a'),
                                 ('imagenet-r', 'imagenet-r', 'r'), ('sketch', 'sketch', None)):
        assert results[name]['top1'] == pytest.approx(reference_top1(model, osp.join(data, folder), subset)), name
    c = results['imagenet-c']
    assert sorted(c['ce']) == sorted(CORRUPTIONS)
    fog = osp.join(data, 'imagenet-c', 'fog', '3')
    assert c['errors']['fog']['3'] == pytest.approx(100 - reference_top1(model, fog, resize=None))
    mean_fog = sum(c['errors']['fog'].values()) / 5
    assert c['ce']['fog'] == pytest.approx(100 * mean_fog / 100 / ALEXNET_ERRORS['fog'])
    assert c['mce'] == pytest.approx(sum(c['ce'].values()) / 15)
    assert c['one_minus_mce'] == pytest.approx(100 - c['mce'])
    assert 'imagenet-c' in capsys.readouterr().out


@pytest.mark.slow
def test_missing_sets_are_reported_and_skipped(toy, tmp_path, capsys):
    data, checkpoint = toy
    out = tmp_path / 'out'
    assert eval_robustness.main([checkpoint, '--config', FT_CONFIG, '--data-root', osp.join(data, 'imagenet', '..'),
                                 '--out', str(out), '--input-size', '32', '--workers', '0',
                                 '--sets', 'imagenet-a', 'imagenet-c']) == 0
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert eval_robustness.main([checkpoint, '--config', FT_CONFIG, '--data-root', str(empty), '--out', str(out)]) == 0
    results = json.loads((out / 'results.json').read_text())
    assert set(results['skipped']) == {'imagenet', 'imagenet-a', 'imagenet-r', 'sketch', 'imagenet-c'}
    assert '[skip] sketch' in capsys.readouterr().out


@pytest.mark.slow
def test_linear_probe_trains_end_to_end(toy, tmp_path):
    data, _ = toy
    checkpoint = train_toy(LINEAR_CONFIG, data, tmp_path / 'lin', epochs=2)
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']
    assert state['head.0.running_mean'].abs().sum() > 0   # the head BN saw the features
    assert 'head.0.weight' not in state                    # BatchNorm without affine
    model = build_classifier(checkpoint, LINEAR_CONFIG)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 1000)


def test_bad_inputs_get_one_line_errors(tmp_path, capsys):
    missing = str(tmp_path / 'nope.pth')
    assert eval_robustness.main([missing, '--data-root', str(tmp_path), '--out', str(tmp_path)]) == 2
    assert 'does not exist' in capsys.readouterr().err
    checkpoint = tmp_path / 'empty.pth'
    torch.save({'model': {}}, checkpoint)
    assert eval_robustness.main([str(checkpoint), '--data-root', str(tmp_path / 'x'), '--out', str(tmp_path)]) == 2
    assert 'data root' in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert eval_robustness.main([str(checkpoint), '--data-root', str(tmp_path), '--out', str(tmp_path),
                                     '--decode', 'gpu']) == 2
        assert capsys.readouterr().err.strip() == ('error: --decode gpu needs a CUDA device: use --decode cpu on '
                                                   'this machine')


def test_timm_layout_finetuned_checkpoint_loads_strictly(tmp_path):
    from siameseim.checkpoint import CheckpointError
    from siameseim.models import ViT
    torch.manual_seed(0)
    source = ViT(arch='tiny', global_pool='avg', final_norm=False, num_classes=1000, head_init_std=0.02).eval()
    model = ImageClassifier(dict(arch='vit-t', global_pool='avg', final_norm=False)).eval()
    state_dict = classifier_state_dict(model, {'model': source.state_dict()}, 'ft.pth')
    assert set(state_dict) == set(model.state_dict())
    images = torch.randn(2, 3, 64, 64)
    assert torch.allclose(model(images), source(images), atol=1e-5)
    without_head = {k: v for k, v in source.state_dict().items() if not k.startswith('head.')}
    with pytest.raises(CheckpointError, match='pretrain.pth has no 1000-way classifier head: .* fine-tune first'):
        classifier_state_dict(model, {'model': without_head}, 'pretrain.pth')
    small = ImageClassifier(dict(arch=None, embed_dim=32, depth=2, num_heads=2, img_size=32, patch_size=8))
    with pytest.raises(CheckpointError, match='size mismatch .* pass the config the checkpoint was trained with'):
        classifier_state_dict(small, {'state_dict': {k: v[..., :1] if v.dim() else v
                                                     for k, v in small.state_dict().items()}}, 'other.pth')


@pytest.mark.slow
def test_a_and_r_ignore_logits_outside_their_200_classes(toy, tmp_path):
    data, checkpoint = toy
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)
    state['state_dict']['backbone.head.bias'][0] += 1000.0   # class 0 (tench) is in neither A nor R
    biased = tmp_path / 'biased.pth'
    torch.save(state, biased)
    out = tmp_path / 'out'
    assert eval_robustness.main([str(biased), '--config', FT_CONFIG, '--data-root', data, '--out', str(out),
                                 '--input-size', '32', '--workers', '0',
                                 '--sets', 'imagenet-a', 'imagenet-r', 'sketch']) == 0
    results = json.loads((out / 'results.json').read_text())
    assert results['sketch']['top1'] == 0.0                  # 1000-way: everything is predicted as class 0
    model = build_classifier(checkpoint, FT_CONFIG)
    for name, subset in (('imagenet-a', 'a'), ('imagenet-r', 'r')):
        expected = reference_top1(model, osp.join(data, name), subset)
        assert expected > 0 and results[name]['top1'] == pytest.approx(expected)


@pytest.mark.slow
def test_corrupt_image_in_a_worker_is_one_clear_line(toy, tmp_path, capsys):
    data, checkpoint = toy
    root = tmp_path / 'data'
    folder = root / 'sketch' / 'n01440764'
    folder.mkdir(parents=True)
    (folder / 'broken.JPEG').write_bytes(b'\xff\xd8\xff\xe0 truncated')
    assert eval_robustness.main([checkpoint, '--config', FT_CONFIG, '--data-root', str(root), '--out',
                                 str(tmp_path / 'out'), '--input-size', '32', '--workers', '1']) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith('error: cannot decode image ') and 'broken.JPEG' in err and 're-download' in err
