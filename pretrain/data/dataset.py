"""Label-free image folder for pretraining: two SiameseIM views + block mask, or one MAE input per image.

The directory is scanned once (the official code builds its ImageFolder twice, docs/method.md §7 row 13). Both
the ImageNet train layout ``root/<wnid>/*.JPEG`` and flat or nested folders of images work; labels are not
used. A file that cannot be decoded is skipped, counted and logged, and the next image is returned instead,
so one bad file never stops a long run. A transform with ``lazy_decode = True`` gets an
:class:`~siameseim.pretrain.data.decoding.EncodedImage` (bytes and header) instead of a decoded image, so it can draw
its crops first and decode only what they need; its decode failures are skipped the same way.
"""
import logging
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

import numpy as np
import torch
from mmengine.logging import print_log
from PIL import Image
from torch.utils.data import Dataset, get_worker_info

from siameseim.registry import DATASETS, TRANSFORMS

from .decoding import DECODE_ERRORS, EncodedImage, UnreadableImageError
from .masking import BlockMaskGenerator

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


def scan_images(root: str, extensions: Sequence[str] = IMG_EXTENSIONS) -> List[str]:
    """Sorted paths of all files under ``root`` (recursive, symlinks followed) with one of ``extensions``
    (case-insensitive)."""
    suffixes = tuple(ext.lower() for ext in extensions)
    paths = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        paths.extend(os.path.join(dirpath, name) for name in sorted(filenames) if name.lower().endswith(suffixes))
    return paths


@DATASETS.register_module()
class PretrainImageFolder(Dataset):
    """Every image under ``root``, transformed for pretraining.

    ``__getitem__`` returns the transform's dict — ``view1``, ``view2`` (float32 ``[3,S,S]``) and ``relpos``
    (float64 ``[6]``) for :class:`SiameseTwoViewTransform`, ``inputs`` for :class:`MAEPretrainTransform` —
    plus ``mask`` (bool ``[g, g]``, view 1 only) and its visible patches ``ids_keep`` (int64 raster indices,
    the same count in every item, so the model step has no data-dependent shape) when a mask generator is
    given. Items collate with ``torch.utils.data.default_collate``.

    Randomness: each process (main or data-loader worker) draws augmentations and masks from its own
    ``numpy.random.Generator``, seeded from ``seed`` and the seed torch derives for that worker from the
    (seeded) main process, so runs are reproducible and workers never repeat each other's draws. Indexed
    with ``(epoch, index)`` pairs (``EpochIndexSampler``), each item is seeded from ``(seed, epoch, index)``
    instead, which also makes resumed runs replay the same augmentations.

    Args:
        root: image directory.
        transform: callable ``(PIL.Image, numpy Generator) -> dict`` (``(EncodedImage, Generator)`` if it
            sets ``lazy_decode = True``), or a config of one registered in ``siameseim.registry.TRANSFORMS``.
        mask_generator: a mask generator (called with the generator ``rng``, returns a bool ``[g, g]`` mask), a
            config of one (``type='RandomMaskGenerator'`` for MAE's uniform masks; without ``type`` the dict is
            the keyword arguments of :class:`BlockMaskGenerator`), or ``None``.
        extensions: file suffixes to include (case-insensitive).
        seed: mixed into every process's generator.
    """

    def __init__(self,
                 root: str,
                 transform: Union[Callable[..., Dict[str, torch.Tensor]], dict],
                 mask_generator: Union[Callable[[np.random.Generator], np.ndarray], dict, None] = None,
                 extensions: Sequence[str] = IMG_EXTENSIONS,
                 seed: int = 0) -> None:
        layout = f'the ImageNet train layout root/<wnid>/*.JPEG or a folder of images ({", ".join(extensions)})'
        if not os.path.isdir(root):
            raise FileNotFoundError(f'pretraining image root {root!r} is not a directory; expected {layout}')
        self.root = root
        self.samples = scan_images(root, extensions)
        if not self.samples:
            raise FileNotFoundError(f'pretraining image root {root!r} holds no images; expected {layout}')
        self.transform = TRANSFORMS.build(transform) if isinstance(transform, dict) else transform
        if isinstance(mask_generator, dict):
            mask_generator = (TRANSFORMS.build(mask_generator) if 'type' in mask_generator else
                              BlockMaskGenerator(**mask_generator))
        self.mask_generator = mask_generator
        self.seed = seed
        self.metainfo = dict(root=root, num_images=len(self.samples))
        self.skipped_files: Set[str] = set()
        self._rng: Optional[np.random.Generator] = None
        self._rng_key: Optional[int] = None

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def num_skipped(self) -> int:
        """Unreadable files met so far by this process (each data-loader worker counts its own)."""
        return len(self.skipped_files)

    @property
    def rng(self) -> np.random.Generator:
        """This process's generator, re-seeded in every new data-loader worker.

        A worker is keyed by the seed torch gives it (distinct per worker and per loader iteration, and not
        overridden by a ``worker_init_fn`` that re-seeds torch, as mmengine's does); the main process by
        ``torch.initial_seed()``, so with ``num_workers=0`` one stream runs through all epochs.
        """
        worker = get_worker_info()
        key = torch.initial_seed() if worker is None else worker.seed
        if self._rng_key != key:
            self._rng = np.random.default_rng([self.seed, key])
            self._rng_key = key
        return self._rng

    @property
    def lazy_decode(self) -> bool:
        """Whether the transform decodes the images itself (it then gets :class:`EncodedImage` objects)."""
        return bool(getattr(self.transform, 'lazy_decode', False))

    def skip(self, path: str, err: Exception) -> None:
        """Remember ``path`` as unreadable and log it with the running count."""
        self.skipped_files.add(path)
        reason = str(err) if isinstance(err, UnreadableImageError) else f'{type(err).__name__}: {err}'
        print_log(f'skipping unreadable image {path} ({reason}); {self.num_skipped} skipped so far',
                  logger='current', level=logging.WARNING)

    def load_image(self, index: int) -> Union[Image.Image, EncodedImage, None]:
        """The image at ``index`` — decoded to RGB, or read and header-parsed only if the transform decodes
        lazily — or ``None`` (logged and counted) if it cannot be read."""
        path = self.samples[index]
        if path in self.skipped_files:
            return None
        try:
            if self.lazy_decode:
                return EncodedImage.from_file(path)
            with open(path, 'rb') as f:
                return Image.open(f).convert('RGB')
        except DECODE_ERRORS as err:
            self.skip(path, err)
            return None

    def __getitem__(self, index: Union[int, Tuple[int, int]]) -> Dict[str, Any]:
        """The item at ``index``; an ``(epoch, index)`` pair (``EpochIndexSampler``) seeds its draws from
        ``(seed, epoch, index)`` instead of the process's stream, so they no longer depend on the workers."""
        if isinstance(index, (tuple, list)):
            epoch, index = index
            rng = np.random.default_rng([self.seed, epoch, index])
        else:
            rng = self.rng
        for offset in range(len(self.samples)):
            position = (index + offset) % len(self.samples)
            image = self.load_image(position)
            if image is None:
                continue
            try:
                item = dict(self.transform(image, rng))
            except UnreadableImageError as err:   # met while a lazily decoding transform decoded the file
                self.skip(self.samples[position], err)
                continue
            break
        else:
            raise RuntimeError(f'none of the {len(self.samples)} images under {self.root!r} can be read')
        if self.mask_generator is not None:
            mask = self.mask_generator(rng)
            item['mask'] = torch.from_numpy(mask)
            item['ids_keep'] = torch.from_numpy(np.flatnonzero(~mask))
        return item
