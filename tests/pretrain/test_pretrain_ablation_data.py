"""The ablation's data switches (docs/ablation.md): one crop for both views, no colour augmentation, MAE's
uniform random masks; the released two-view pipeline draws exactly what it drew before."""
import numpy as np
import pytest
import torch
from PIL import Image

from siameseim.pretrain.data import (BlockMaskGenerator, FastSiameseTwoViewTransform, PretrainImageFolder,
                                     RandomMaskGenerator, SiameseTwoViewTransform)

TRANSFORMS = [SiameseTwoViewTransform, FastSiameseTwoViewTransform]


def photo(seed=0, height=120, width=160) -> Image.Image:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, width)[None, :, None] * rng.uniform(0.3, 1, 3)
    pixels = np.clip(ramp + rng.normal(0, 25, (height, width, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


@pytest.mark.parametrize('transform_type', TRANSFORMS, ids=lambda t: t.__name__)
def test_explicit_released_switches_draw_the_released_views(transform_type):
    released = transform_type(input_size=32)(photo(), np.random.default_rng(3))
    explicit = transform_type(input_size=32, views='different', color_aug=True)(photo(), np.random.default_rng(3))
    for key in ('view1', 'view2', 'relpos'):
        assert torch.equal(released[key], explicit[key])


@pytest.mark.parametrize('transform_type', TRANSFORMS, ids=lambda t: t.__name__)
def test_same_view_without_colour_gives_one_crop_to_both_branches(transform_type):
    transform = transform_type(input_size=32, views='same', color_aug=False)
    for seed in range(5):
        out = transform(photo(seed), np.random.default_rng(seed))
        assert torch.equal(out['view1'], out['view2'])
        assert out['relpos'][:5].tolist() == [0.0, 0.0, 1.0, 1.0, 0.0]
    geometries = transform.sample_geometry(120, 160, np.random.default_rng(0))
    assert geometries[0] == geometries[1]


@pytest.mark.parametrize('transform_type', TRANSFORMS, ids=lambda t: t.__name__)
def test_same_view_with_colour_differs_only_in_colour(transform_type):
    coloured = transform_type(input_size=32, views='same', color_aug=True)
    plain = transform_type(input_size=32, views='same', color_aug=False)
    differ = 0
    for seed in range(6):
        out = coloured(photo(seed), np.random.default_rng(seed))
        assert out['relpos'][:5].tolist() == [0.0, 0.0, 1.0, 1.0, 0.0]
        differ += not torch.allclose(out['view1'], out['view2'], atol=0.05)
        reference = plain(photo(seed), np.random.default_rng(seed))
        assert torch.equal(reference['view1'], reference['view2'])
    assert differ >= 4, 'independent colourings of one crop'


@pytest.mark.parametrize('transform_type', TRANSFORMS, ids=lambda t: t.__name__)
def test_without_colour_augmentation_the_views_are_plain_crops(transform_type):
    """Both geometries are drawn before any colour, so a pipeline whose colour operations never fire (but still
    draw their coins) gives the same views as one without colour augmentation, however strong its settings."""
    plain = transform_type(input_size=32, color_aug=False, blur_prob=(1.0, 1.0), jitter_prob=1.0)
    identity = transform_type(input_size=32, jitter_prob=0.0, grayscale_prob=0.0, blur_prob=(0.0, 0.0),
                              solarize_prob=(0.0, 0.0))
    a = plain(photo(1), np.random.default_rng(7))
    b = identity(photo(1), np.random.default_rng(7))
    for key in ('view1', 'view2', 'relpos'):
        torch.testing.assert_close(a[key], b[key])
    coloured = transform_type(input_size=32, blur_prob=(1.0, 1.0), jitter_prob=1.0)(photo(1), np.random.default_rng(7))
    assert not torch.allclose(coloured['view1'], a['view1'], atol=0.05)


def test_unknown_view_mode_is_refused():
    with pytest.raises(ValueError, match="views must be 'different'"):
        SiameseTwoViewTransform(views='both')


def test_random_masks_are_uniform_with_a_fixed_count():
    generator = RandomMaskGenerator(input_size=14, num_masking_patches=147)
    rng = np.random.default_rng(0)
    masks = np.stack([generator(rng) for _ in range(3000)])
    assert masks.shape == (3000, 14, 14) and (masks.reshape(3000, -1).sum(1) == 147).all()
    frequency = masks.mean(0)
    assert np.abs(frequency - 0.75).max() < 0.045   # every cell masked with p = 147/196 (5 sigma ~ 0.04)
    # neighbours are independent up to the fixed count: P(right neighbour masked | masked) = 146/195
    pairs = masks[:, :, :-1] & masks[:, :, 1:]
    assert pairs.sum() / masks[:, :, :-1].sum() == pytest.approx(146 / 195, abs=0.01)
    block = BlockMaskGenerator(input_size=14, num_masking_patches=147, min_num_patches=16)
    blocks = np.stack([block(rng) for _ in range(300)])
    block_pairs = (blocks[:, :, :-1] & blocks[:, :, 1:]).sum() / blocks[:, :, :-1].sum()
    assert block_pairs > 146 / 195 + 0.05, 'the test tells block masks from uniform ones'
    again = [RandomMaskGenerator(14, 147)(np.random.default_rng(9)) for _ in range(2)]
    assert np.array_equal(*again)


def test_random_mask_count_is_checked():
    with pytest.raises(ValueError, match='num_masking_patches must lie in'):
        RandomMaskGenerator(input_size=4, num_masking_patches=17)


def test_dataset_builds_the_mask_generator_named_by_type(tmp_path):
    for index in range(2):
        photo(index).save(tmp_path / f'{index}.png')
    transform = dict(type='SiameseTwoViewTransform', input_size=32)
    uniform = PretrainImageFolder(str(tmp_path), transform,
                                  mask_generator=dict(type='RandomMaskGenerator', input_size=2, num_masking_patches=3))
    assert isinstance(uniform.mask_generator, RandomMaskGenerator)
    item = uniform[(0, 1)]
    assert item['mask'].sum() == 3 and item['ids_keep'].shape == (1, )
    blockwise = PretrainImageFolder(str(tmp_path), transform,
                                    mask_generator=dict(input_size=2, num_masking_patches=2, min_num_patches=1))
    assert isinstance(blockwise.mask_generator, BlockMaskGenerator)
