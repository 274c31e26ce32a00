"""Photo-like synthetic JPEGs for the input-pipeline benchmarks and tests: ImageNet-sized files whose
spectrum, size and compressed size resemble photographs, generated instead of downloaded."""
import os.path as osp
from typing import List, Sequence

import cv2
import numpy as np
from PIL import Image


def photo_like_image(rng: np.random.Generator, height: int, width: int, grain: float = 11.0) -> np.ndarray:
    """An RGB ``uint8`` image with a photograph's kind of spectrum: smooth noise at seven octaves (amplitude
    falling by 0.75 per octave), a random colour cast, and pixel grain of standard deviation ``grain``."""
    img = np.zeros((height, width, 3), np.float32)
    for octave in range(7):
        grid = rng.normal(0, 1, (max(2, height >> (7 - octave)), max(2, width >> (7 - octave)), 3))
        img += cv2.resize(grid.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC) * (60 * 0.75**octave)
    img += rng.normal(0, grain, (height, width, 3)).astype(np.float32) + rng.uniform(60, 190, 3).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_imagenet_like_jpegs(root: str, count: int, seed: int = 0, sides: Sequence[int] = (333, 640)) -> List[str]:
    """``count`` photo-like JPEGs (quality 90) with height and width drawn uniformly from ``sides``."""
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        height, width = (int(side) for side in rng.integers(sides[0], sides[1] + 1, 2))
        path = osp.join(root, f'{index:05d}.JPEG')
        Image.fromarray(photo_like_image(rng, height, width)).save(path, quality=90)
        paths.append(path)
    return paths
