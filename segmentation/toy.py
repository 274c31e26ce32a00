"""A tiny ADE20k tree in the real layout, for tests and the CPU demo.

:func:`make_ade20k_toy` writes ``images/{training,validation}/*.jpg`` and ``annotations/{...}/*.png`` with PNG
values 0-150 (0 = "other", ignored after ``reduce_zero_label``), as docs/protocols.md §6 describes. Each image is
split into a few rectangles of distinct classes, each drawn in its class's own colour plus noise, so a tiny
model can learn something in a few iterations.
"""
import os
from typing import Dict, Tuple

import numpy as np
from PIL import Image

NUM_CLASSES = 150


def class_colors(seed: int = 0) -> np.ndarray:
    """``[151, 3]`` colours, one per PNG value (row 0 for "other")."""
    return np.random.default_rng(seed).integers(0, 256, (NUM_CLASSES + 1, 3)).astype(np.float64)


def toy_pair(rng: np.random.Generator, size: Tuple[int, int], colors: np.ndarray,
             classes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """One ``(image [H, W, 3] uint8, annotation [H, W] uint8)`` pair of vertical class bands."""
    height, width = size
    labels = rng.choice(classes, size=int(rng.integers(2, 5)), replace=False)
    cuts = np.sort(rng.choice(np.arange(1, width), size=len(labels) - 1, replace=False))
    annotation = np.zeros((height, width), dtype=np.uint8)
    for label, start, end in zip(labels, np.r_[0, cuts], np.r_[cuts, width]):
        annotation[:, start:end] = label
    image = colors[annotation] + rng.normal(0, 8, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8), annotation


def make_ade20k_toy(root: str, num_train: int = 6, num_val: int = 3, size: Tuple[int, int] = (48, 72),
                    classes: Tuple[int, ...] = (0, 1, 2, 3, 5, 8, 13, 150), seed: int = 0) -> Dict[str, str]:
    """Write the toy set under ``root`` (the ``data_root`` of a config); returns the four folders.

    ``classes`` are PNG values (1-150 are the ADE20k classes, 0 is ignored); ``size`` is ``(H, W)``.
    """
    rng = np.random.default_rng(seed)
    colors = class_colors(seed)
    folders = {}
    for split, count in (('training', num_train), ('validation', num_val)):
        img_dir = os.path.join(root, 'images', split)
        ann_dir = os.path.join(root, 'annotations', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for index in range(count):
            image, annotation = toy_pair(rng, size, colors, np.asarray(classes))
            name = f'ADE_{"train" if split == "training" else "val"}_{index:08d}'
            Image.fromarray(image).save(os.path.join(img_dir, f'{name}.jpg'), quality=95)
            Image.fromarray(annotation).save(os.path.join(ann_dir, f'{name}.png'))
        folders[f'images/{split}'] = img_dir
        folders[f'annotations/{split}'] = ann_dir
    return folders
