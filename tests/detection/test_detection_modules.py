"""Detection modules against the protocol's checks (docs/protocols.md §1.2, §2.2, §2.3; §7 items 1, 5, 6)."""
import json
import math

import pytest
import torch

from siameseim.detection.datasets import RepeatFactorSampler, repeat_factors
from siameseim.detection.models import FederatedLoss, LayerNorm2d, SimpleFPN, read_lvis_categories



def test_layer_norm_2d_normalises_channels_with_eps_1e6():
    norm = LayerNorm2d(8)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    x = torch.randn(2, 8, 5, 7)
    mean, var = x.mean(1, keepdim=True), x.var(1, unbiased=False, keepdim=True)
    expected = (x - mean) / torch.sqrt(var + 1e-6) * norm.weight[:, None, None] + norm.bias[:, None, None]
    assert norm.eps == 1e-6
    torch.testing.assert_close(norm(x), expected, rtol=1e-5, atol=1e-5)


def test_simple_fpn_vit_b_pyramid_shapes_and_layers():
    fpn = SimpleFPN(backbone_channel=768)
    fpn.init_weights()
    with torch.no_grad():
        outs = fpn((torch.randn(1, 768, 64, 64), ))
    assert [tuple(o.shape) for o in outs] == [(1, 256, s, s) for s in (256, 128, 64, 32, 16)]
    conv = fpn.lateral_convs[0]
    assert conv.conv.bias is None and not conv.with_activation
    assert isinstance(conv.norm, LayerNorm2d) and conv.norm.eps == 1e-6
    assert fpn.fpn1[0].bias is not None and isinstance(fpn.fpn1[2], torch.nn.GELU)
    # P6 is max-pool kernel 1 stride 2 of P5, i.e. subsampling
    torch.testing.assert_close(outs[4], outs[3][:, :, ::2, ::2])


def test_simple_fpn_rejects_inconsistent_channels():
    with pytest.raises(ValueError, match=r'use \[256, 512, 1024, 1024\]'):
        SimpleFPN(backbone_channel=1024, in_channels=[192, 384, 768, 768])


@pytest.fixture
def counts_file(tmp_path):
    categories = [dict(id=i + 1, name=f'c{i}', image_count=(i + 1)**2, frequency='f') for i in range(100)]
    path = tmp_path / 'lvis_train.json'
    path.write_text(json.dumps(dict(info={}, annotations=[dict(id=1, name='"categories"')], categories=categories)))
    return str(path)


def test_read_lvis_categories_finds_the_top_level_list(counts_file):
    categories = read_lvis_categories(counts_file)
    assert len(categories) == 100 and categories[4]['image_count'] == 25


def test_federated_loss_keeps_50_classes_and_counts_background(counts_file):
    loss = FederatedLoss(num_classes=100, image_count_file=counts_file)
    torch.testing.assert_close(loss.class_weights[:3], torch.tensor([1.0, 2.0, 3.0]))  # image_count ** 0.5
    foreground = torch.tensor([3, 7, 7, 42])
    mask = loss.federated_mask(foreground)
    assert mask.sum() == 50 and mask[[3, 7, 42]].eq(1).all()
    with_background = torch.cat([foreground, torch.tensor([100, 100])])
    assert loss.federated_mask(with_background).sum() == 49
    many = torch.arange(60)
    assert loss.federated_mask(many).sum() == 60


def test_federated_loss_value_and_sigmoid_interface(counts_file):
    """With as many classes present as the sample size nothing is drawn: the loss is the BCE of exactly the
    present foreground classes (1, 5, 9; background is no column), summed and divided by avg_factor."""
    loss = FederatedLoss(num_classes=100, image_count_file=counts_file, num_fed_classes=3)
    assert loss.get_cls_channels(100) == 100
    logits = torch.randn(6, 100, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([1, 5, 100, 100, 5, 9])
    value = loss(logits, labels, torch.ones(6), avg_factor=6.0)
    expected = 0.0
    for row, label in enumerate(labels.tolist()):
        for column in (1, 5, 9):
            p = 1 / (1 + math.exp(-float(logits[row, column])))
            expected -= math.log(p) if label == column else math.log(1 - p)
    assert float(value) == pytest.approx(expected / 6, rel=1e-5)
    scores = loss.get_activation(logits)
    torch.testing.assert_close(scores[:, :100], logits.sigmoid())


def inclusion_probabilities(weights, present, draws):
    """P(class is in the sample) when ``draws`` classes outside ``present`` are drawn one after another, each
    with probability ∝ its weight among those not drawn yet (weighted sampling without replacement)."""
    result = {index: 1.0 if index in present else 0.0 for index in range(len(weights))}

    def visit(drawn, probability):
        if len(drawn) == draws:
            for index in drawn:
                result[index] += probability
            return
        free = [i for i in range(len(weights)) if i not in present and i not in drawn]
        total = sum(weights[i] for i in free)
        for i in free:
            visit(drawn + [i], probability * weights[i] / total)

    visit([], 1.0)
    return [result[index] for index in range(len(weights))]


@pytest.mark.parametrize('labels, draws', [([0, 0, 6], 2), ([2, 5], 2), ([0, 3, 6], 1)])
def test_federated_sampling_by_simulation(tmp_path, labels, draws):
    """Present classes always kept, background (label 6) counted as present but no column, the others drawn
    ∝ image_count ** 0.5: 10000 samples against the exact inclusion probabilities of that definition."""
    counts = [1, 1, 4, 16, 64, 256]  # weights 1, 1, 2, 4, 8, 16: far from uniform and from ∝ image_count
    path = tmp_path / 'counts.json'
    path.write_text(json.dumps(dict(categories=[dict(id=i + 1, image_count=c) for i, c in enumerate(counts)])))
    loss = FederatedLoss(num_classes=6, image_count_file=str(path), num_fed_classes=4)
    label_tensor = torch.tensor(labels)
    torch.manual_seed(0)  # conftest restores the global generator after the test
    masks = torch.stack([loss.federated_mask(label_tensor) for _ in range(10000)])
    assert set(masks.unique().tolist()) == {0.0, 1.0}
    present = {label for label in labels if label < 6}
    assert masks.sum(1).eq(len(present) + draws).all()
    expected = inclusion_probabilities([c ** 0.5 for c in counts], present, draws)
    frequencies = masks.mean(0).tolist()
    for index, (frequency, probability) in enumerate(zip(frequencies, expected)):
        assert frequency == pytest.approx(probability, abs=0.02), (index, frequencies, expected)


def test_federated_loss_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere.json'):
        FederatedLoss(num_classes=3, image_count_file=str(tmp_path / 'nowhere.json'), num_fed_classes=2)


def test_repeat_factors_oracle():
    # 2000 images: category 1 in one image (f = 0.0005), category 2 in 20 (f = 0.01), t = 0.001
    images = [[1, 2]] + [[2]] * 19 + [[]] * 1980
    factors = repeat_factors(images, 0.001)
    assert factors[0] == pytest.approx(math.sqrt(2))
    assert factors[1] == 1.0 and factors[-1] == 1.0


class _Dataset:
    def __init__(self, cats):
        self.cats = cats

    def __len__(self):
        return len(self.cats)

    def get_cat_ids(self, idx):
        return self.cats[idx]


def test_repeat_factor_sampler_rounds_stochastically():
    # category 0 in 1 of 40 images: f = 0.025, t = 0.04 -> r = sqrt(1.6) ≈ 1.265: 1 or 2 copies, 1.265 on average
    dataset = _Dataset([[0]] + [[1]] * 39)
    sampler = RepeatFactorSampler(dataset, repeat_thr=0.04, seed=0)
    generator = torch.Generator().manual_seed(0)
    copies = [int((sampler.epoch_indices(generator) == 0).sum()) for _ in range(2000)]
    assert set(copies) == {1, 2}
    assert sum(copies) / len(copies) == pytest.approx(math.sqrt(1.6), abs=0.03)
    first = [next(iter(sampler)) for _ in range(2)]
    assert first[0] == first[1]  # same seed, same stream
