"""Pretraining transforms: crop algorithm, flip-then-crop geometry, relative-position tuple, photometric
pipeline and output format (docs/method.md §4.1–4.3, §3.6)."""
import math

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

from siameseim.pretrain.data.transforms import (IMAGENET_MEAN, IMAGENET_STD, MAEPretrainTransform, PhotometricAugment,
                                                SiameseTwoViewTransform, ViewGeometry, random_resized_crop_params,
                                                relative_position, sample_view_geometry)
from siameseim.pretrain.models.relative_pos_embed import relative_query_coords

NO_PHOTOMETRIC = dict(jitter_prob=0.0, grayscale_prob=0.0, blur_prob=(0.0, 0.0), solarize_prob=(0.0, 0.0))


def noise_image(height=180, width=240, seed=0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def ramp_image(height=200, width=256) -> Image.Image:
    """Red channel = column index, green = row index: pixel values encode original-image coordinates."""
    rows, cols = np.mgrid[:height, :width]
    return Image.fromarray(np.stack([cols, rows, np.zeros_like(rows)], -1).astype(np.uint8))


def denormalize(view: torch.Tensor) -> np.ndarray:
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    return ((view * std + mean) * 255).numpy().astype(np.float64)


def test_crop_params_follow_torchvision_statistics():
    rng = np.random.default_rng(0)
    height, width = 300, 400
    boxes = np.array([random_resized_crop_params(height, width, rng) for _ in range(3000)])
    i, j, h, w = boxes.T
    assert (i >= 0).all() and (j >= 0).all() and (i + h <= height).all() and (j + w <= width).all()
    area = h * w / (height * width)
    assert area.min() >= 0.07 and area.max() <= 1.0
    aspect = w / h
    assert (aspect > 0.7).all() and (aspect < 1.45).all()   # [3/4, 4/3] up to integer rounding
    # log-aspect is uniform: about half of the crops wider than tall
    assert 0.4 < (aspect > 1).mean() < 0.6
    # area fractions above 3/4 of the image are often rejected (the box no longer fits): mean below 0.54
    assert 0.4 < area.mean() < 0.54


def test_crop_fallback_is_centred_and_clipped_to_the_aspect_range():
    # a 10×1000 strip: no 3/4..4/3 box of at least 8 % area fits, so every draw falls back
    rng = np.random.default_rng(0)
    assert random_resized_crop_params(10, 1000, rng) == (0, (1000 - 13) // 2, 10, 13)
    assert random_resized_crop_params(1000, 10, rng) == ((1000 - 13) // 2, 0, 13, 10)
    # scale (1, 1) on a square image always fits: the whole image
    assert random_resized_crop_params(50, 50, rng, scale=(1.0, 1.0), ratio=(1.0, 1.0)) == (0, 0, 50, 50)


def test_relative_position_tuple_by_hand():
    v1 = ViewGeometry(i=10, j=20, h=100, w=80, flip=False)
    v2 = ViewGeometry(i=30, j=40, h=50, w=40, flip=True)
    assert relative_position(v1, v2, 200) == (0.2, 0.25, 0.5, 0.5, 1.0, 1.75)
    assert relative_position(v1, v2._replace(flip=False), 200)[4] == 0.0
    assert relative_position(v1._replace(flip=True), v2, 200)[4] == 0.0
    assert relative_position(v1, v1, 200)[:5] == (0.0, 0.0, 1.0, 1.0, 0.0)


def test_views_are_flip_then_crop_of_the_sampled_geometry():
    img = noise_image()
    transform = SiameseTwoViewTransform(**NO_PHOTOMETRIC)
    out = transform(img, np.random.default_rng(5))
    # the same seed replays the geometry: view 1 and view 2 first, then the photometric draws
    geometries = transform.sample_geometry(img.height, img.width, np.random.default_rng(5))
    for view, geometry in zip((out['view1'], out['view2']), geometries):
        flipped = TF.hflip(img) if geometry.flip else img
        crop = TF.resized_crop(flipped, geometry.i, geometry.j, geometry.h, geometry.w, [224, 224],
                               InterpolationMode.BICUBIC)
        torch.testing.assert_close(view, TF.normalize(TF.to_tensor(crop), IMAGENET_MEAN, IMAGENET_STD))
    expected = torch.tensor(relative_position(*geometries, img.width), dtype=torch.float64)
    assert torch.equal(out['relpos'], expected)


def test_pixels_at_the_query_positions_match_between_views():
    """End to end: a view-2 patch centre and view 1 sampled at its (u, v) show the same original pixel."""
    img = ramp_image()
    transform = SiameseTwoViewTransform(crop_min=0.3, **NO_PHOTOMETRIC)
    rng = np.random.default_rng(0)
    checked, flipped = 0, 0
    for _ in range(40):
        out = transform(img, rng)
        view1, view2 = denormalize(out['view1']), denormalize(out['view2'])
        u, v, _, _ = relative_query_coords(out['relpos'][None], 14)
        flipped += int(out['relpos'][4])
        pixels = np.arange(224) + 0.5    # output pixel centres
        for r in (3, 7, 10):
            for c in (3, 7, 10):
                # view 2 at its patch centre (16 r + 8, 16 c + 8): average of the 2×2 pixels around it
                red2 = view2[0, 16 * r + 7:16 * r + 9, 16 * c + 7:16 * c + 9].mean()
                green2 = view2[1, 16 * r + 7:16 * r + 9, 16 * c + 7:16 * c + 9].mean()
                y1, x1 = 16 * (float(u[0, r]) + 0.5), 16 * (float(v[0, c]) + 0.5)   # output pixels of view 1
                if not (12 < y1 < 212 and 12 < x1 < 212):
                    continue
                red1 = np.interp(x1, pixels, view1[0, 112])   # red depends on the column only
                green1 = np.interp(y1, pixels, view1[1, :, 112])
                assert abs(red1 - red2) < 1.5 and abs(green1 - green2) < 1.5
                checked += 1
    assert checked > 100 and 5 < flipped < 35


def test_two_view_output_format_and_determinism():
    transform = SiameseTwoViewTransform()
    img = noise_image()
    out = transform(img, np.random.default_rng(1))
    assert set(out) == {'view1', 'view2', 'relpos'}
    assert out['view1'].shape == out['view2'].shape == (3, 224, 224)
    assert out['view1'].dtype == out['view2'].dtype == torch.float32
    assert out['relpos'].shape == (6, ) and out['relpos'].dtype == torch.float64
    again = transform(img, np.random.default_rng(1))
    assert all(torch.equal(out[k], again[k]) for k in out)
    other = transform(img, np.random.default_rng(2))
    assert not torch.equal(out['view1'], other['view1'])
    assert SiameseTwoViewTransform(input_size=96)(img)['view1'].shape == (3, 96, 96)


def test_default_photometric_pipelines_are_asymmetric():
    transform = SiameseTwoViewTransform()
    view1, view2 = transform.photometric
    assert (view1.jitter_prob, view1.grayscale_prob, view1.blur_prob, view1.solarize_prob) == (0.8, 0.2, 1.0, 0.0)
    assert (view2.jitter_prob, view2.grayscale_prob, view2.blur_prob, view2.solarize_prob) == (0.8, 0.2, 0.1, 0.2)
    np.testing.assert_allclose(view1.jitter_ranges, [(0.6, 1.4), (0.6, 1.4), (0.8, 1.2), (-0.1, 0.1)])
    assert transform.scale == (0.08, 1.0)


def test_photometric_operations():
    img = noise_image(64, 64)
    rng = np.random.default_rng(0)
    gray = np.asarray(PhotometricAugment(jitter_prob=0, grayscale_prob=1, blur_prob=0)(img, rng))
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    solarized = PhotometricAugment(jitter_prob=0, grayscale_prob=0, blur_prob=0, solarize_prob=1)(img, rng)
    src = np.asarray(img)
    np.testing.assert_array_equal(np.asarray(solarized), np.where(src >= 128, 255 - src, src))
    blurred = np.asarray(PhotometricAugment(jitter_prob=0, grayscale_prob=0, blur_prob=1)(img, rng), np.float64)
    assert blurred.std() < src.std()        # blur removes noise energy
    identity = PhotometricAugment(jitter_prob=0, grayscale_prob=0, blur_prob=0)(img, rng)
    np.testing.assert_array_equal(np.asarray(identity), src)
    jittered = PhotometricAugment(jitter_prob=1, grayscale_prob=0, blur_prob=0)(img, rng)
    assert not np.array_equal(np.asarray(jittered), src)


def test_flip_is_drawn_with_probability_one_half():
    rng = np.random.default_rng(0)
    flips = [sample_view_geometry(100, 100, rng).flip for _ in range(2000)]
    assert 0.45 < np.mean(flips) < 0.55
    assert not any(sample_view_geometry(100, 100, rng, flip_prob=0.0).flip for _ in range(100))


def test_mae_transform():
    transform = MAEPretrainTransform()
    assert transform.scale == (0.2, 1.0)
    img = noise_image()
    out = transform(img, np.random.default_rng(0))
    assert set(out) == {'inputs'} and out['inputs'].shape == (3, 224, 224) and out['inputs'].dtype == torch.float32
    assert torch.equal(out['inputs'], transform(img, np.random.default_rng(0))['inputs'])
    # crop area fractions respect scale (0.2, 1)
    rng = np.random.default_rng(1)
    areas = [math.prod(random_resized_crop_params(300, 300, rng, scale=transform.scale)[2:]) / 300**2
             for _ in range(500)]
    assert min(areas) > 0.18


def test_probability_pairs_must_have_two_entries():
    with pytest.raises(ValueError, match=r'\(view 1, view 2\) pairs'):
        SiameseTwoViewTransform(blur_prob=(1.0, ))
