"""1 % few-shot logistic regression (docs/method.md §5.3): objective, solvers, shipped subset list, end to end."""
import collections
import hashlib
import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch

from siameseim.robustness import few_shot
from siameseim.robustness.few_shot import (SIMCLR_1PERCENT, fit_logistic_regression, load_subset_file,
                                           logistic_objective, preprocess, resolve_solver, subset_samples)
from siameseim.robustness.labels import imagenet_1k_index
from siameseim.robustness.toy import make_toy_benchmarks, toy_wnids
from siameseim.models import ViT


def test_preprocess_centres_and_normalises_rows():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 4.0, 10.0]])
    out = preprocess(x)
    assert torch.allclose(out.mean(1), torch.zeros(2), atol=1e-7)
    assert torch.allclose(out.norm(dim=1), torch.ones(2))
    assert torch.allclose(out[0], torch.tensor([-1.0, 0.0, 1.0]) / 2 ** 0.5)


HAS_CYANURE = importlib.util.find_spec('cyanure') is not None
SIMCLR_1PERCENT_SHA256 = '71e82a48ba78252683ae334c4d019ebd5c6e855b9599c1389fbe83eb9549cf17'


def _toy_features(num_classes=5, per_class=20, dim=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, dim, generator=generator) * 2
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    return preprocess(centres[labels] + torch.randn(len(labels), dim, generator=generator)), labels


def test_lbfgs_reaches_the_optimum_of_the_spec_objective():
    x, labels = _toy_features()
    weight = fit_logistic_regression(x, labels, lambd=0.1, solver='lbfgs').weight
    lam = 0.1 / len(x)
    w = weight.clone().requires_grad_(True)
    logistic_objective(w, x.double(), labels, lam).backward()
    assert w.grad.abs().max() < 1e-5                      # stationary point of the convex objective
    # Optimality: (1/n) Xᵀ(P − Y) + λ W = 0, checked against an independent formula.
    probs = torch.softmax(x.double() @ weight, 1)
    grad = x.double().T @ (probs - torch.nn.functional.one_hot(labels, 5).double()) / len(x) + lam * weight
    assert grad.abs().max() < 1e-5
    assert few_shot.accuracy(few_shot.LinearClassifier(weight, torch.arange(5)), x, labels) == 100.0


@pytest.mark.skipif(not HAS_CYANURE, reason='cyanure is not installed')
def test_cyanure_and_lbfgs_find_the_same_minimiser():
    x, labels = _toy_features(num_classes=10, per_class=30, dim=32, seed=1)
    lam = 0.1 / len(x)
    official = fit_logistic_regression(x, labels, solver='cyanure', tol=1e-8)
    ours = fit_logistic_regression(x, labels, solver='lbfgs')
    objective = [float(logistic_objective(c.weight, x.double(), labels, lam)) for c in (official, ours)]
    assert objective[0] == pytest.approx(objective[1], rel=1e-7)
    assert torch.allclose(official.weight, ours.weight, atol=1e-3 * float(ours.weight.abs().max()))
    assert torch.equal(official.predict(x), ours.predict(x))
    # At the official tolerance (1e-3 relative duality gap) the objective is still within 0.1 % of the optimum.
    loose = fit_logistic_regression(x, labels, solver='cyanure')
    assert float(logistic_objective(loose.weight, x.double(), labels, lam)) <= objective[1] * 1.001


@pytest.mark.parametrize('solver', ['lbfgs'] + (['cyanure'] if HAS_CYANURE else []))
def test_classifier_covers_the_training_classes_in_their_label_space(solver):
    x, labels = _toy_features(num_classes=3)
    sparse = torch.tensor([5, 9, 612])[labels]
    classifier = fit_logistic_regression(x, sparse, solver=solver)
    assert classifier.classes.tolist() == [5, 9, 612] and classifier.weight.shape == (16, 3)
    assert torch.equal(classifier.predict(x), sparse)


def test_solver_choice_and_errors(monkeypatch):
    assert resolve_solver('lbfgs') == 'lbfgs'
    assert resolve_solver('auto', num_classes=2) == 'lbfgs'
    assert resolve_solver('auto') == ('cyanure' if HAS_CYANURE else 'lbfgs')
    with pytest.raises(ValueError, match="unknown solver 'sgd': use one of auto, cyanure, lbfgs"):
        resolve_solver('sgd')
    if HAS_CYANURE:
        with pytest.raises(ValueError, match='needs at least 3 classes, the training set has 2: use --solver lbfgs'):
            resolve_solver('cyanure', num_classes=2)
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name: None)
    assert resolve_solver('auto') == 'lbfgs'
    with pytest.raises(ValueError, match="solver 'cyanure' is not installed: pip install cyanure"):
        resolve_solver('cyanure')


def test_shipped_simclr_1percent_list_matches_the_spec():
    names = load_subset_file(SIMCLR_1PERCENT)
    assert len(names) == len(set(names)) == 12811
    per_class = collections.Counter(name.split('_')[0] for name in names)
    index = imagenet_1k_index()
    assert set(per_class) == set(index)
    assert collections.Counter(per_class.values()) == {13: 811, 12: 189}
    assert names[0] == 'n04235860_14959.JPEG' and names[-1] == 'n02096437_135.JPEG'
    with open(SIMCLR_1PERCENT, 'rb') as f:  # byte-exact copy of google-research/simclr at be133b3
        assert hashlib.sha256(f.read()).hexdigest() == SIMCLR_1PERCENT_SHA256


def test_default_lambd_follows_the_spec():
    assert few_shot.default_lambd('vit-b') == 0.1 and few_shot.default_lambd('ViT-L/16') == 0.01
    assert few_shot.default_lambd('base') == 0.1 and few_shot.default_lambd('large') == 0.01


def test_subset_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='pass an existing list with --subset-file'):
        load_subset_file(str(tmp_path / 'missing.txt'))
    bad = tmp_path / 'bad.txt'
    bad.write_text('n01440764/n01440764_1.JPEG\n')
    with pytest.raises(ValueError, match='expected lines like n01440764_10026.JPEG'):
        load_subset_file(str(bad))
    good = tmp_path / 'good.txt'
    good.write_text('n01440764_1.JPEG\nn01440764_2.JPEG')  # SimCLR's file has no trailing newline
    names = load_subset_file(str(good))
    assert names == ['n01440764_1.JPEG', 'n01440764_2.JPEG']
    with pytest.raises(FileNotFoundError, match='2 subset images are missing'):
        subset_samples(str(tmp_path / 'train'), names)


@pytest.mark.slow
def test_few_shot_end_to_end_on_toy_imagenet(tmp_path, capsys):
    data = tmp_path / 'data'
    make_toy_benchmarks(str(data), per_class=3)
    train_root = data / 'imagenet' / 'train'
    names = sorted(name for wnid in toy_wnids() for name in os.listdir(train_root / wnid))[::2]
    subset = tmp_path / '1percent.txt'
    subset.write_text('\n'.join(names))
    torch.manual_seed(0)
    checkpoint = tmp_path / 'vit-t.pth'
    torch.save({'model': ViT(arch='tiny', final_norm=False).state_dict()}, checkpoint)
    out = tmp_path / 'out'
    assert few_shot.main([str(checkpoint), '--data-root', str(data / 'imagenet'), '--subset-file', str(subset),
                          '--arch', 'vit-t', '--input-size', '32', '--workers', '0', '--device', 'cpu',
                          '--out', str(out)]) == 0
    printed = capsys.readouterr().out
    assert f'({len(names)} train / 12 val images, lambd 0.1' in printed
    # Each toy class is one colour: even random features separate them.
    assert json.loads((out / 'few_shot.json').read_text())['top1'] > 50


def test_features_are_cached_and_reused_only_for_the_same_weights_and_images(tmp_path, monkeypatch, capsys):
    data = tmp_path / 'data'
    make_toy_benchmarks(str(data), per_class=2, size=40)
    samples = few_shot.scan_wnid_folder(str(data / 'imagenet' / 'train'))
    torch.manual_seed(0)
    model = few_shot.build_feature_model(None, dict(arch=None, embed_dim=32, depth=1, num_heads=2, img_size=32))
    options = dict(crop_size=32, resize=36, num_workers=0)
    cache = str(tmp_path / 'cache' / 'features_train.pt')
    first = few_shot.cached_features(model, samples, cache, **options)
    calls = []
    extract = few_shot.extract_features
    monkeypatch.setattr(few_shot, 'extract_features', lambda *args, **kwargs: calls.append(1) or extract(*args,
                                                                                                          **kwargs))
    again = few_shot.cached_features(model, samples, cache, **options)
    assert not calls and 'reusing the features of' in capsys.readouterr().out
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    few_shot.cached_features(model, samples[1:], cache, **options)        # other images: extracted again
    with torch.no_grad():
        model.blocks[0].mlp.fc1.weight.add_(1.0)
    changed = few_shot.cached_features(model, samples, cache, **options)  # other weights: extracted again
    assert len(calls) == 2 and not torch.equal(first[0], changed[0])
    assert not os.path.exists(cache + '.tmp')
    with open(cache, 'w') as f:
        f.write('not a torch file')                                    # unreadable: one line, extracted again
    capsys.readouterr()
    recovered = few_shot.cached_features(model, samples, cache, **options)
    assert 'cannot read the feature cache' in capsys.readouterr().out and len(calls) == 3
    assert torch.equal(recovered[0], changed[0])
    assert torch.equal(few_shot.cached_features(model, samples, cache, **options)[0], changed[0]) and len(calls) == 3


@pytest.mark.slow
@pytest.mark.skipif(not HAS_CYANURE, reason='cyanure is not installed')
def test_cyanure_leaves_later_torch_training_in_the_process_working():
    """The suite fits the few-shot classifier and then trains ADE20k in one process. With cyanure's own
    OpenMP/OpenBLAS loaded beside torch's, that conv backward deadlocked; the fit now runs in a child."""
    tool = 'siameseim.segmentation.cli.benchmark_segmentation'
    script = (
        'import runpy, sys, torch\n'
        'from siameseim.robustness.few_shot import fit_logistic_regression, preprocess\n'
        'fit_logistic_regression(preprocess(torch.randn(60, 16)), torch.arange(60) % 3, solver="cyanure")\n'
        f'sys.argv = [{tool!r}, "--tiny", "--device", "cpu", "--batch-size", "2", "--warmup", "0", "--iters", "1"]\n'
        f'runpy.run_module({tool!r}, run_name="__main__")\n')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'ratio suite/mmseg:' in result.stdout
