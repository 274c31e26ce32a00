"""``root/<wnid>/<image>`` datasets (ImageNet train/val, -A, -R, -Sketch, one ImageNet-C severity).

Labels are ImageNet-1k indices looked up from the folder name, so a 200-class (A/R) or partial copy never
shifts them. Plain files at the root (the README of ImageNet-A) are ignored; a folder whose name is not an
allowed wnid, an empty tree or an image that cannot be decoded raise one line naming the path and the fix.

``decode='gpu'`` is the loader half of GPU JPEG decoding: workers only read the file bytes, and each item
carries the geometry of its :class:`~siameseim.robustness.transforms.EvalTransform`, which
:class:`~siameseim.robustness.models.ClassificationDataPreprocessor` applies after decoding on the model's device.
"""
import os
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from PIL import Image
from torch.utils.data import Dataset

from siameseim.registry import DATASETS, TRANSFORMS

from ..labels import imagenet_1k_index, imagenet_1k_wnids, subset_wnids
from ..transforms import IMAGENET_MEAN, IMAGENET_STD, EvalTransform

DECODES = ('cpu', 'gpu')
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')
DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


class CorruptImageError(RuntimeError):
    """An image file of a dataset could not be decoded."""


def scan_wnid_folder(root: str,
                     allowed_wnids: Optional[Iterable[str]] = None,
                     extensions: Sequence[str] = IMG_EXTENSIONS) -> List[Tuple[str, int]]:
    """Sorted ``(path, 1k label)`` of every image in ``root/<wnid>/`` (recursive below the wnid folder).

    ``allowed_wnids`` restricts the folder names (the 200 classes of A/R); by default any ImageNet-1k wnid.
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f'dataset folder {root} does not exist: check --data-root and the layout '
                                f'<root>/<wnid>/<image> (see docs/data.md)')
    index = imagenet_1k_index()
    allowed = set(allowed_wnids) if allowed_wnids is not None else set(index)
    folders = sorted(entry.name for entry in os.scandir(root) if entry.is_dir() and not entry.name.startswith('.'))
    unknown = [name for name in folders if name not in allowed]
    if unknown:
        what = 'ImageNet-1k wnids' if allowed_wnids is None else 'wnids of this dataset'
        raise ValueError(f'{root}: folder(s) {", ".join(unknown[:5])}{" ..." if len(unknown) > 5 else ""} are not '
                         f'{what}: remove them, or point the root at the folder that holds the <wnid> folders')
    suffixes = tuple(ext.lower() for ext in extensions)
    samples = []
    for wnid in folders:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, wnid), followlinks=True):
            dirnames.sort()
            samples.extend((os.path.join(dirpath, name), index[wnid]) for name in sorted(filenames)
                           if name.lower().endswith(suffixes))
    if not samples:
        raise FileNotFoundError(f'no images under {root}: expected <root>/<wnid>/<image> with one of {suffixes}')
    return samples


def load_rgb(path: str) -> Image.Image:
    """Decode ``path`` as RGB (Sketch holds grey and palette images), or raise :class:`CorruptImageError`."""
    try:
        with Image.open(path) as image:
            return image.convert('RGB')
    except DECODE_ERRORS as err:
        raise CorruptImageError(f'cannot decode image {path} ({type(err).__name__}: {err}): '
                                f'delete or re-download this file') from None


def build_transform(transform: Optional[Union[Callable, Dict]], decode: str) -> Optional[Callable]:
    """The transform of a dataset from a callable or a ``TRANSFORMS`` config, checked against ``decode``."""
    if decode not in DECODES:
        raise ValueError(f'decode must be one of {DECODES}, got {decode!r}')
    transform = TRANSFORMS.build(transform) if isinstance(transform, dict) else transform
    if decode == 'gpu' and not (isinstance(transform, EvalTransform) and transform.interpolation == 'bicubic' and
                                transform.mean == IMAGENET_MEAN and transform.std == IMAGENET_STD):
        raise ValueError("decode='gpu' applies the evaluation transform on the GPU: give the dataset an "
                         "EvalTransform with bicubic interpolation and the ImageNet mean/std, or use decode='cpu'")
    return transform


def load_sample(path: str, transform: Optional[Callable], decode: str) -> dict:
    """The ``inputs`` of one image: decoded and transformed (``'cpu'``), or its file bytes with the path and
    the crop / resize the preprocessor applies after decoding (``'gpu'``; resize 0 = crop only)."""
    if decode == 'gpu':
        with open(path, 'rb') as f:
            data = f.read()
        return dict(inputs=data, path=path, crop_size=transform.crop_size, resize=transform.resize or 0)
    image = load_rgb(path)
    return dict(inputs=transform(image) if transform is not None else image)


@DATASETS.register_module()
class WnidImageFolder(Dataset):
    """Images of ``root/<wnid>/`` with their ImageNet-1k label.

    Items are ``dict(inputs=transform(image), label=int)`` and collate with ``default_collate`` (with
    ``decode='gpu'``, see :func:`load_sample`).

    Args:
        root: the folder holding the wnid folders.
        transform: callable on a PIL image, or a config of one in ``siameseim.registry.TRANSFORMS``.
        allowed_wnids: folder names allowed (default: all 1000 wnids).
        samples: explicit ``(path, label)`` list instead of scanning ``root`` (the 1 % subset).
        subset: ``'a'`` or ``'r'``: only the 200 wnids of ImageNet-A / -R are allowed.
        decode: ``'cpu'`` (PIL in the loader workers) or ``'gpu'`` (file bytes; decoded by the preprocessor).
    """

    def __init__(self,
                 root: str,
                 transform: Optional[Union[Callable, Dict]] = None,
                 allowed_wnids: Optional[Iterable[str]] = None,
                 samples: Optional[List[Tuple[str, int]]] = None,
                 subset: Optional[str] = None,
                 decode: str = 'cpu') -> None:
        if subset is not None:
            if allowed_wnids is not None:
                raise ValueError('pass either allowed_wnids or subset, not both')
            allowed_wnids = subset_wnids(subset)
        self.root, self.decode = root, decode
        self.transform = build_transform(transform, decode)
        self.samples = samples if samples is not None else scan_wnid_folder(root, allowed_wnids)

    @property
    def metainfo(self) -> dict:
        """The label space, for mmengine's evaluator: the 1000 ImageNet-1k wnids in label order."""
        return dict(classes=imagenet_1k_wnids())

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        path, label = self.samples[index]
        return dict(load_sample(path, self.transform, self.decode), label=label)
