"""Pretraining tests share one small folder of unlabelled images."""
import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
    """16 images of 96×80 px: a random colour, a horizontal gradient and noise (what the toy configs train on)."""
    root = tmp_path_factory.mktemp('pretrain_images')
    rng = np.random.default_rng(0)
    for index in range(16):
        base = rng.integers(0, 255, 3)
        gradient = np.linspace(0, 1, 96)[None, :, None] * rng.integers(0, 255, 3)
        pixels = np.clip(base + gradient + rng.normal(0, 20, (80, 96, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / f'{index:02d}.png')
    return str(root)
