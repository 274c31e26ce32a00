"""Image transforms of the ImageNet protocols (docs/method.md §5.1–5.3, docs/protocols.md §4.1).

* :class:`FinetuneTrainTransform` — timm ``create_transform``: RandomResizedCrop (bicubic), flip,
  RandAugment ``rand-m9-mstd0.5-inc1``, no colour jitter, RandomErasing p 0.25 ``pixel``.
* :class:`LinearProbeTrainTransform` — TF-style RandomResizedCrop (one draw, no retries), flip.
* :class:`EvalTransform` — Resize shorter side (256, bicubic) → CenterCrop 224; ``resize=None`` only crops
  (ImageNet-C files are already 224², hendrycks' ``test.py``).
All end in ToTensor + ImageNet normalisation.
"""
import math
import random
from typing import Optional, Sequence, Tuple

import torch
from PIL import Image
from timm.data import create_transform
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

from siameseim.registry import TRANSFORMS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = {'bicubic': InterpolationMode.BICUBIC, 'bilinear': InterpolationMode.BILINEAR}


def _interpolation(name: str) -> InterpolationMode:
    if name not in INTERPOLATIONS:
        raise ValueError(f'interpolation must be one of {sorted(INTERPOLATIONS)}, got {name!r}')
    return INTERPOLATIONS[name]


@TRANSFORMS.register_module()
class FinetuneTrainTransform:
    """Fine-tuning augmentation, built by timm so RandAugment and RandomErasing are timm's own."""

    def __init__(self,
                 input_size: int = 224,
                 auto_augment: Optional[str] = 'rand-m9-mstd0.5-inc1',
                 re_prob: float = 0.25,
                 interpolation: str = 'bicubic') -> None:
        self.transform = create_transform(
            input_size=input_size, is_training=True, color_jitter=None, auto_augment=auto_augment,
            interpolation=interpolation, re_prob=re_prob, re_mode='pixel', re_count=1,
            mean=IMAGENET_MEAN, std=IMAGENET_STD)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.transform(image)


def tf_random_resized_crop_box(width: int, height: int, scale: Tuple[float, float] = (0.08, 1.0),
                               ratio: Tuple[float, float] = (3 / 4, 4 / 3)) -> Tuple[int, int, int, int]:
    """``(top, left, h, w)`` of one TF-style draw: area and log-aspect sampled once, clamped to the image."""
    area = width * height * random.uniform(*scale)
    aspect = math.exp(random.uniform(math.log(ratio[0]), math.log(ratio[1])))
    w = min(int(round(math.sqrt(area * aspect))), width)
    h = min(int(round(math.sqrt(area / aspect))), height)
    return random.randint(0, height - h), random.randint(0, width - w), h, w


@TRANSFORMS.register_module()
class LinearProbeTrainTransform:
    """MAE's linear-probe augmentation: ``RandomResizedCrop`` without retries (``util/crop.py``), flip."""

    def __init__(self, input_size: int = 224, interpolation: str = 'bicubic') -> None:
        self.input_size = input_size
        self.interpolation = _interpolation(interpolation)
        self.post = T.Compose([T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])

    def __call__(self, image: Image.Image) -> torch.Tensor:
        top, left, h, w = tf_random_resized_crop_box(*image.size)
        image = F.resized_crop(image, top, left, h, w, [self.input_size, self.input_size], self.interpolation)
        return self.post(image)


@TRANSFORMS.register_module()
class EvalTransform:
    """Resize the shorter side to ``resize`` (skipped when None) → CenterCrop ``crop_size`` → normalise."""

    def __init__(self, crop_size: int = 224, resize: Optional[int] = 256, interpolation: str = 'bicubic',
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        self.crop_size, self.resize, self.interpolation = crop_size, resize, interpolation
        self.mean, self.std = tuple(mean), tuple(std)
        steps = [T.Resize(resize, interpolation=_interpolation(interpolation))] if resize else []
        self.transform = T.Compose(steps + [T.CenterCrop(crop_size), T.ToTensor(), T.Normalize(mean, std)])

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.transform(image)
