"""The fast two-view pipeline draws from the distributions of the PIL pipeline.

Both pipelines run through ``PretrainImageFolder`` (two views, relative position, block mask) on the same
small photo-like JPEGs, 2,000 items each from independent seeds; every random choice is recorded as it is
made (geometry, jitter, grayscale, blur, solarisation, per view) and each statistic is compared with a
two-sample Kolmogorov–Smirnov test (p > 0.01), or exactly where the rule is exact. The colour statistics of
the augmented views must agree within 1 %; they are compared on common random numbers (the same seeds for
both pipelines, which the pipelines turn into the same parameter draws), because with independent seeds the
sampling noise of 2,000 items on eight images alone is about 2 %.
"""
from collections import defaultdict

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image, ImageFilter, ImageOps
from scipy import ndimage, stats

from siameseim.pretrain.data import (BlockMaskGenerator, FastSiameseTwoViewTransform, PretrainImageFolder,
                                     SiameseTwoViewTransform, array_ops)
from siameseim.pretrain.data.transforms import IMAGENET_MEAN, IMAGENET_STD

from checkout import REPO_ROOT

ROOT = REPO_ROOT
from siameseim.pretrain.data.photo_like import photo_like_image

DRAWS = 2000
INPUT_SIZE = 32
PIPELINES = {'pil': SiameseTwoViewTransform, 'fast': FastSiameseTwoViewTransform}


class Recorder:
    """Collects every random choice of one pipeline, attributed to the view being augmented."""

    def __init__(self):
        self.view = 0
        self.first_jitter_op = False
        self.values = defaultdict(list)

    def add(self, name, value):
        self.values[f'view{self.view + 1}/{name}'].append(value)


class PerView:
    """Wraps one view's photometric augmenter so the recorder knows which view the choices belong to."""

    def __init__(self, augment, view, recorder):
        self.augment, self.view, self.recorder = augment, view, recorder

    def __call__(self, img, rng):
        self.recorder.view = self.view
        self.recorder.first_jitter_op = True
        return self.augment(img, rng)


def spy(recorder, name, function, value=lambda *args: args[1]):
    def wrapped(*args, **kwargs):
        recorder.add(name, value(*args, **kwargs))
        return function(*args, **kwargs)
    return wrapped


def instrument(monkeypatch, pipeline, transform, recorder):
    """Record geometry, jitter factors and order, grayscale, blur σ and solarisation as they are drawn."""
    sample_geometry = transform.sample_geometry

    def recorded_geometry(height, width, rng):
        geometries = sample_geometry(height, width, rng)
        for view, g in enumerate(geometries):
            recorder.view = view
            recorder.add('area', g.h * g.w / (height * width))
            recorder.add('aspect', g.w / g.h)
            recorder.add('flip', float(g.flip))
        return geometries

    transform.sample_geometry = recorded_geometry
    transform.photometric = tuple(PerView(augment, view, recorder)
                                  for view, augment in enumerate(transform.photometric))
    names = ('adjust_brightness', 'adjust_contrast', 'adjust_saturation', 'adjust_hue')
    if pipeline == 'pil':
        module = TF
        monkeypatch.setattr(TF, 'rgb_to_grayscale', spy(recorder, 'grayscale', TF.rgb_to_grayscale, lambda *a, **k: 1))
        blur = ImageFilter.GaussianBlur
        monkeypatch.setattr(ImageFilter, 'GaussianBlur',
                            lambda radius: recorder.add('blur_sigma', radius) or blur(radius))
        monkeypatch.setattr(ImageOps, 'solarize', spy(recorder, 'solarize', ImageOps.solarize, lambda *a: 1))
    else:
        module = array_ops
        monkeypatch.setattr(array_ops, 'to_grayscale', spy(recorder, 'grayscale', array_ops.to_grayscale, lambda *a: 1))
        monkeypatch.setattr(array_ops, 'gaussian_blur', spy(recorder, 'blur_sigma', array_ops.gaussian_blur))
        monkeypatch.setattr(array_ops, 'solarize', spy(recorder, 'solarize', array_ops.solarize, lambda *a: 1))
    for position, name in enumerate(names):
        recorder_name = name.replace('adjust_', '')

        def order_spy(*args, _name=recorder_name, _function=getattr(module, name), _position=position):
            recorder.add(_name, args[1])
            if recorder.first_jitter_op:
                recorder.add('order', _position)   # which operation the random order put first
                recorder.first_jitter_op = False
            return _function(*args)

        monkeypatch.setattr(module, name, order_spy)


@pytest.fixture(scope='module')
def image_root(tmp_path_factory):
    """Eight small photo-like JPEGs of varied shape."""
    root = tmp_path_factory.mktemp('photos')
    rng = np.random.default_rng(0)
    for index, (height, width) in enumerate([(96, 128), (128, 96), (80, 120), (120, 120), (90, 140), (140, 100),
                                             (100, 100), (72, 128)]):
        Image.fromarray(photo_like_image(rng, height, width)).save(root / f'{index}.JPEG', quality=90)
    return str(root)


def record(image_root, seeds, draws):
    """For each pipeline (seeded from ``seeds``): its recorded choices, relpos and masks over ``draws`` items."""
    results = {}
    monkeypatch = pytest.MonkeyPatch()
    try:
        for seed, (pipeline, transform_type) in zip(seeds, PIPELINES.items()):
            recorder = Recorder()
            dataset = PretrainImageFolder(image_root, transform_type(input_size=INPUT_SIZE), BlockMaskGenerator(),
                                          seed=seed)
            instrument(monkeypatch, pipeline, dataset.transform, recorder)
            items = [dataset[(0, index)] for index in range(draws)]
            monkeypatch.undo()
            results[pipeline] = dict(
                values=defaultdict(lambda: np.zeros(0),
                                   {key: np.array(value, dtype=np.float64) for key, value in recorder.values.items()}),
                relpos=np.stack([item['relpos'].numpy() for item in items]),
                masks=np.stack([item['mask'].numpy() for item in items]))
    finally:
        monkeypatch.undo()
    return results


@pytest.fixture(scope='module')
def draws(image_root):
    """2,000 items per pipeline, from independent seeds."""
    return record(image_root, seeds=(0, 1), draws=DRAWS)


@pytest.fixture(scope='module')
def colour_statistics(image_root):
    """Per pipeline: per-view, per-channel mean and standard deviation (0–1 scale) of 1,000 items' views,
    both pipelines seeded alike."""
    results = {}
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None], torch.tensor(IMAGENET_STD)[:, None]
    for pipeline, transform_type in PIPELINES.items():
        dataset = PretrainImageFolder(image_root, transform_type(input_size=INPUT_SIZE), seed=0)
        moments = np.zeros((2, 2, 3))   # view, (sum, sum of squares), channel
        for index in range(DRAWS // 2):
            item = dataset[(0, index)]
            for view in range(2):
                pixels = (item[f'view{view + 1}'].flatten(1).double() * std + mean).numpy()
                moments[view] += (pixels.sum(1), np.square(pixels).sum(1))
        first, second = moments[:, 0] / (DRAWS // 2 * INPUT_SIZE**2), moments[:, 1] / (DRAWS // 2 * INPUT_SIZE**2)
        results[pipeline] = dict(mean=first, std=np.sqrt(second - np.square(first)))
    return results


def assert_same_distribution(pil, fast, what):
    assert min(len(pil), len(fast)) >= 100, f"{what}: too few draws to compare"
    p_value = stats.ks_2samp(pil, fast).pvalue
    assert p_value > 0.01, f'{what}: KS p = {p_value:.2g}'


@pytest.mark.parametrize('name', ['area', 'aspect', 'flip'])
@pytest.mark.parametrize('view', [1, 2])
def test_crop_geometry_and_flip(draws, view, name):
    pil, fast = (draws[p]['values'][f'view{view}/{name}'] for p in PIPELINES)
    assert len(pil) == len(fast) == DRAWS
    assert_same_distribution(pil, fast, f'view {view} {name}')


@pytest.mark.parametrize('component', range(6))
def test_relative_position_components(draws, component):
    names = ('di', 'dj', 'dh', 'dw', 'relative flip', 'dj_flip')
    assert_same_distribution(draws['pil']['relpos'][:, component], draws['fast']['relpos'][:, component],
                             names[component])


@pytest.mark.parametrize('view', [1, 2])
@pytest.mark.parametrize('name', ['brightness', 'contrast', 'saturation', 'hue', 'order'])
def test_jitter_strengths_and_order(draws, view, name):
    pil, fast = (draws[p]['values'][f'view{view}/{name}'] for p in PIPELINES)
    assert_same_distribution(pil, fast, f'view {view} jitter {name}')


@pytest.mark.parametrize('view', [1, 2])
@pytest.mark.parametrize('name', ['brightness', 'grayscale', 'blur_sigma', 'solarize'])
def test_per_view_rates(draws, view, name):
    """How often each operation is applied, per view (jitter counted by its brightness factor)."""
    counts = {p: len(draws[p]['values'][f'view{view}/{name}']) for p in PIPELINES}
    applied = {p: np.r_[np.ones(counts[p]), np.zeros(DRAWS - counts[p])] for p in PIPELINES}
    exact = {(1, 'blur_sigma'): DRAWS, (1, 'solarize'): 0}   # view 1: always blurred, never solarised
    if (view, name) in exact:
        assert counts['pil'] == counts['fast'] == exact[view, name]
    else:
        assert_same_distribution(applied['pil'], applied['fast'], f'view {view} {name} rate')


@pytest.mark.parametrize('view', [1, 2])
def test_blur_sigma(draws, view):
    pil, fast = (draws[p]['values'][f'view{view}/blur_sigma'] for p in PIPELINES)
    assert fast.min() >= 0.1 and fast.max() <= 2.0
    assert_same_distribution(pil, fast, f'view {view} blur sigma')


def blocks_per_mask(masks):
    return np.array([ndimage.label(mask)[1] for mask in masks])


def test_mask_statistics(draws):
    pil, fast = draws['pil']['masks'], draws['fast']['masks']
    assert (pil.sum((1, 2)) == 118).all() and (fast.sum((1, 2)) == 118).all()   # exact: a fixed count
    assert_same_distribution(blocks_per_mask(pil), blocks_per_mask(fast), 'connected blocks per mask')
    assert_same_distribution(pil.mean(0).ravel(), fast.mean(0).ravel(), 'per-patch mask frequency')


@pytest.mark.parametrize('view', [0, 1])
def test_colour_statistics_within_one_percent(colour_statistics, view):
    """Per-channel mean and standard deviation of the augmented pixels, per view (measured: within 0.2 %)."""
    for statistic in ('mean', 'std'):
        pil, fast = (colour_statistics[p][statistic][view] for p in PIPELINES)
        np.testing.assert_allclose(fast, pil, rtol=0.01, err_msg=statistic)


def test_one_seed_gives_both_pipelines_the_same_draws(image_root):
    """Exact: from the same generator state the fast pipeline makes every choice the PIL pipeline makes."""
    paired = record(image_root, seeds=(5, 5), draws=200)
    pil, fast = paired['pil'], paired['fast']
    assert sorted(pil['values']) == sorted(fast['values'])
    for key, values in pil['values'].items():
        np.testing.assert_array_equal(fast['values'][key], values, err_msg=key)
    np.testing.assert_array_equal(fast['relpos'], pil['relpos'])
    np.testing.assert_array_equal(fast['masks'], pil['masks'])
