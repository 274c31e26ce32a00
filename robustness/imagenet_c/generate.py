"""Write an ImageNet-C tree from any image folder: ``<dst>/<corruption>/<severity>/<relative path>``.

Construction as in the original (docs/protocols.md §4.5): Resize shorter side 256 (bilinear, torchvision's
default) → CenterCrop 224 → corruption → uint8 truncation → JPEG quality 85. Relative paths (``<wnid>/
<file>``) are kept, with a ``.JPEG`` suffix for files that were not JPEGs. Every image is corrupted with its
own ``RandomState`` seeded from ``(seed, corruption, severity, relative path)``, so a run is reproducible,
independent of the worker count, and an interrupted run resumes by skipping files that exist.
"""
import os
import zlib
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image
from torchvision import transforms as T

from ..datasets.wnid_folder import IMG_EXTENSIONS, load_rgb
from ..metrics.mce import CORRUPTIONS, SEVERITIES
from .corruptions import corrupt

JPEG_SUFFIXES = ('.jpeg', '.jpg')
_PREPROCESS = T.Compose([T.Resize(256), T.CenterCrop(224)])


def imagenet_c_preprocess(image: Image.Image) -> np.ndarray:
    """Resize 256 (bilinear) → CenterCrop 224, as uint8 RGB ``[224, 224, 3]``."""
    return np.asarray(_PREPROCESS(image.convert('RGB')), dtype=np.uint8)


def list_images(src: str) -> List[str]:
    """Relative paths of the images under ``src`` (sorted, recursive)."""
    if not os.path.isdir(src):
        raise FileNotFoundError(f'source folder {src} does not exist: pass an image folder such as data/imagenet/val')
    paths = []
    for dirpath, dirnames, filenames in os.walk(src, followlinks=True):
        dirnames.sort()
        paths.extend(os.path.relpath(os.path.join(dirpath, name), src) for name in sorted(filenames)
                     if name.lower().endswith(IMG_EXTENSIONS))
    if not paths:
        raise FileNotFoundError(f'no images under {src} (looked for {", ".join(IMG_EXTENSIONS)})')
    return paths


def output_path(dst: str, corruption: str, severity: int, relative: str) -> str:
    stem, suffix = os.path.splitext(relative)
    name = relative if suffix.lower() in JPEG_SUFFIXES else stem + '.JPEG'
    return os.path.join(dst, corruption, str(severity), name)


def image_seed(seed: int, corruption: str, severity: int, relative: str) -> int:
    return zlib.crc32(f'{seed}/{corruption}/{severity}/{relative}'.encode()) & 0x7fffffff


def _corrupt_one(job: Tuple[str, str, str, Sequence[str], Sequence[int], int, Optional[str]]) -> int:
    src, dst, relative, corruptions, severities, seed, frost_textures = job
    todo = [(c, s) for c in corruptions for s in severities if not os.path.isfile(output_path(dst, c, s, relative))]
    if not todo:
        return 0
    image = imagenet_c_preprocess(load_rgb(os.path.join(src, relative)))
    for corruption, severity in todo:
        rng = np.random.RandomState(image_seed(seed, corruption, severity, relative))
        out = corrupt(image, corruption, severity, rng, frost_textures=frost_textures)
        path = output_path(dst, corruption, severity, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + '.tmp'
        Image.fromarray(out).save(tmp, format='JPEG', quality=85, optimize=True)
        os.replace(tmp, path)
    return len(todo)


def corrupt_folder(src: str, dst: str, corruptions: Iterable[str] = CORRUPTIONS,
                   severities: Iterable[int] = SEVERITIES, seed: int = 0, workers: int = 0,
                   frost_textures: Optional[str] = None,
                   progress: Optional[Callable[[int, int], None]] = None) -> int:
    """Corrupt every image of ``src`` into ``dst``; returns the number of files written."""
    corruptions, severities = list(corruptions), [int(s) for s in severities]
    unknown = [c for c in corruptions if c not in CORRUPTIONS]
    if unknown:
        raise ValueError(f'unknown corruption(s) {unknown}: choose from {", ".join(CORRUPTIONS)}')
    bad = [s for s in severities if s not in SEVERITIES]
    if bad:
        raise ValueError(f'severities must be in 1..5, got {bad}')
    jobs = [(src, dst, rel, corruptions, severities, seed, frost_textures) for rel in list_images(src)]
    written = 0
    if workers > 0:
        with ProcessPoolExecutor(workers) as pool:
            for done, count in enumerate(pool.map(_corrupt_one, jobs, chunksize=8), 1):
                written += count
                if progress:
                    progress(done, len(jobs))
    else:
        for done, job in enumerate(jobs, 1):
            written += _corrupt_one(job)
            if progress:
                progress(done, len(jobs))
    return written
