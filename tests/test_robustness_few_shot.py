"""1 % few-shot logistic regression (method.md §5.3): objective, solver optimality, subset file, end to end."""
import json
import os

import pytest
import torch

from robustness import few_shot
from robustness.few_shot import (fit_logistic_regression, load_subset_file, logistic_objective, preprocess,
                                 subset_samples)
from robustness.toy import make_toy_benchmarks, toy_wnids
from siameseim.models import ViT


def test_preprocess_centres_and_normalises_rows():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 4.0, 10.0]])
    out = preprocess(x)
    assert torch.allclose(out.mean(1), torch.zeros(2), atol=1e-7)
    assert torch.allclose(out.norm(dim=1), torch.ones(2))
    assert torch.allclose(out[0], torch.tensor([-1.0, 0.0, 1.0]) / 2 ** 0.5)


def test_solver_reaches_the_optimum_of_the_spec_objective():
    torch.manual_seed(0)
    centres = torch.randn(5, 16) * 2
    labels = torch.arange(5).repeat_interleave(20)
    x = preprocess(centres[labels] + torch.randn(100, 16))
    weight = fit_logistic_regression(x, labels, num_classes=5, lambd=0.1)
    lam = 0.1 / len(x)
    w = weight.clone().requires_grad_(True)
    logistic_objective(w, x.double(), labels, lam).backward()
    assert w.grad.abs().max() < 1e-5                      # stationary point of the convex objective
    # Optimality: (1/n) Xᵀ(P − Y) + λ W = 0, checked against an independent formula.
    probs = torch.softmax(x.double() @ weight, 1)
    grad = x.double().T @ (probs - torch.nn.functional.one_hot(labels, 5).double()) / len(x) + lam * weight
    assert grad.abs().max() < 1e-5
    assert few_shot.accuracy(weight, x, labels) == 100.0


def test_default_lambd_follows_the_spec():
    assert few_shot.default_lambd('vit-b') == 0.1 and few_shot.default_lambd('ViT-L/16') == 0.01
    assert few_shot.default_lambd('base') == 0.1 and few_shot.default_lambd('large') == 0.01


def test_subset_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='1percent.txt and pass it with --subset-file'):
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
