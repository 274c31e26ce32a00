"""Wnid ImageFolder datasets and transforms: 1k labels from folder names, clear errors for bad inputs."""
import os
import random

import numpy as np
import pytest
import torch
from PIL import Image

from siameseim.robustness.datasets import CorruptImageError, WnidImageFolder, scan_wnid_folder
from siameseim.robustness.labels import imagenet_1k_index, subset_wnids
from siameseim.robustness.transforms import (EvalTransform, FinetuneTrainTransform, LinearProbeTrainTransform,
                                             tf_random_resized_crop_box)


def write(path, size=(40, 30), mode='RGB'):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).convert(
        mode).save(path)


def test_labels_come_from_the_1k_table_not_folder_order(tmp_path):
    wnids = ['n01440764', 'n15075141']  # first and last ImageNet-1k classes
    for wnid in wnids:
        write(str(tmp_path / wnid / 'a.JPEG'))
    (tmp_path / 'README.txt').write_text('ignored')
    samples = scan_wnid_folder(str(tmp_path))
    assert [label for _, label in samples] == [0, 999]


def test_grey_and_palette_images_become_rgb_tensors(tmp_path):
    write(str(tmp_path / 'n01440764' / 'grey.JPEG'), mode='L')
    write(str(tmp_path / 'n01440764' / 'pal.png'), mode='P')
    dataset = WnidImageFolder(str(tmp_path), transform=EvalTransform(crop_size=16, resize=20))
    assert len(dataset) == 2
    for item in dataset:
        assert item['inputs'].shape == (3, 16, 16) and item['label'] == 0


def test_unknown_wnid_folder_is_named(tmp_path):
    write(str(tmp_path / 'n01440764' / 'a.JPEG'))
    write(str(tmp_path / 'cats' / 'a.JPEG'))
    with pytest.raises(ValueError, match=r'cats are not ImageNet-1k wnids: remove them'):
        scan_wnid_folder(str(tmp_path))


def test_folder_outside_the_200_classes_is_rejected(tmp_path):
    outside = next(w for w in imagenet_1k_index() if w not in subset_wnids('a'))
    write(str(tmp_path / outside / 'a.jpg'))
    with pytest.raises(ValueError, match=f'{outside} are not wnids of this dataset'):
        scan_wnid_folder(str(tmp_path), allowed_wnids=subset_wnids('a'))


def test_missing_and_empty_roots(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        scan_wnid_folder(str(tmp_path / 'nope'))
    (tmp_path / 'n01440764').mkdir()
    with pytest.raises(FileNotFoundError, match='no images under'):
        scan_wnid_folder(str(tmp_path))


def test_corrupt_image_gets_a_clear_message(tmp_path):
    path = tmp_path / 'n01440764' / 'broken.JPEG'
    path.parent.mkdir()
    path.write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
    dataset = WnidImageFolder(str(tmp_path), transform=EvalTransform())
    with pytest.raises(CorruptImageError, match=r'cannot decode image .*broken.JPEG .*delete or re-download'):
        dataset[0]


def test_transforms_shapes_and_eval_geometry():
    image = Image.fromarray(np.random.default_rng(1).integers(0, 255, (300, 400, 3), dtype=np.uint8))
    assert FinetuneTrainTransform(input_size=32)(image).shape == (3, 32, 32)
    assert LinearProbeTrainTransform(input_size=32)(image).shape == (3, 32, 32)
    out = EvalTransform()(image)
    assert out.shape == (3, 224, 224)
    # Crop-only (ImageNet-C) leaves a 224 image untouched apart from normalisation.
    small = image.crop((0, 0, 224, 224))
    crop_only = EvalTransform(resize=None)(small)
    raw = torch.from_numpy(np.array(small)).permute(2, 0, 1).float() / 255
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    assert torch.allclose(crop_only, (raw - mean) / std, atol=1e-5)


def test_tf_style_crop_is_one_clamped_draw():
    random.seed(0)
    areas = []
    for _ in range(2000):
        top, left, h, w = tf_random_resized_crop_box(400, 300)
        assert 0 <= top <= 300 - h and 0 <= left <= 400 - w and 1 <= h <= 300 and 1 <= w <= 400
        areas.append(h * w / (400 * 300))
    # No retries: small crops are as frequent as the area law says (~ U(0.08, 1) before clamping).
    assert 0.05 < min(areas) < 0.1 and abs(sum(a < 0.3 for a in areas) / 2000 - 0.22 / 0.92) < 0.04
