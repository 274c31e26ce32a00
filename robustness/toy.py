"""Tiny ImageNet-style data trees with real wnid folder names, for tests and the CPU demo.

:func:`make_toy_benchmarks` writes the OpenMMLab-style ``data/`` layout of docs/protocols.md §6 (ImageNet train/
val, -A, -R, -Sketch, -C) with a few small images per class. Each class gets its own colour, so a tiny model
can learn it in a few iterations.
"""
import os
from typing import Dict, Sequence

import numpy as np
from PIL import Image

from .labels import subset_wnids
from .metrics.mce import CORRUPTIONS, SEVERITIES


def toy_wnids(count: int = 4) -> Sequence[str]:
    """``count`` wnids present in ImageNet-1k, -A and -R alike (so every toy set has the same classes)."""
    shared = sorted(set(subset_wnids('a')) & set(subset_wnids('r')))
    return shared[:count]


def write_images(folder: str, color: np.ndarray, count: int, size: int, rng: np.random.Generator,
                 ext: str = '.JPEG') -> None:
    """``count`` noisy ``size``² images around ``color`` in ``folder``."""
    os.makedirs(folder, exist_ok=True)
    for index in range(count):
        pixels = np.clip(color + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(os.path.join(folder, f'{os.path.basename(folder)}_{index}{ext}'))


def make_toy_benchmarks(root: str, wnids: Sequence[str] = (), per_class: int = 4, size: int = 40,
                        corruption_size: int = 32, seed: int = 0) -> Dict[str, str]:
    """Write ``imagenet/{train,val}``, ``imagenet-a``, ``imagenet-r``, ``sketch`` and ``imagenet-c`` under
    ``root``; returns the folder of each set."""
    wnids = list(wnids) or list(toy_wnids())
    rng = np.random.default_rng(seed)
    colors = {wnid: rng.integers(20, 235, 3).astype(np.float64) for wnid in wnids}
    sets = {name: os.path.join(root, name) for name in
            ('imagenet/train', 'imagenet/val', 'imagenet-a', 'imagenet-r', 'sketch', 'imagenet-c')}
    for wnid, color in colors.items():
        write_images(os.path.join(sets['imagenet/train'], wnid), color, 2 * per_class, size, rng)
        for name in ('imagenet/val', 'imagenet-a', 'imagenet-r', 'sketch'):
            write_images(os.path.join(sets[name], wnid), color, per_class, size, rng,
                         ext='.jpg' if name.startswith('imagenet-') else '.JPEG')
        for corruption in CORRUPTIONS:
            for severity in SEVERITIES:
                folder = os.path.join(sets['imagenet-c'], corruption, str(severity), wnid)
                write_images(folder, color, 1, corruption_size, rng)
    with open(os.path.join(sets['imagenet-a'], 'README.txt'), 'w') as f:
        f.write('ImageNet-A toy copy\n')
    return sets
