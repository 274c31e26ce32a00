"""The SiameseIM two-view pipeline on ``uint8`` arrays: the distributions of :class:`SiameseTwoViewTransform`
at close to three times the images per CPU core (``tools/benchmark_data.py``).

What differs from the PIL pipeline is how, not what, is drawn:

* the image arrives opened but not decoded (``lazy_decode``); both views' crops are drawn on its full-size
  geometry from the header, and when both crops are at least ``r × input_size`` pixels on their shorter side
  a JPEG is decoded ``r`` times smaller (libjpeg DCT scaling, ``r`` = 2, 4 or 8) with the crop boxes mapped
  to the smaller image, so the resize still only shrinks;
* each view is cropped from the unflipped image (the box mirrored) and mirrored while the crop is copied,
  which equals flipping the whole image first;
* resize, colour jitter, grayscale, blur and solarisation run on ``uint8`` arrays (:mod:`.array_ops`), and
  each view is converted to a normalised float tensor once, at the end.

Every random draw — flip, crop, jitter order and factors, grayscale, blur σ, solarisation — is made in the
same order and from the same ranges as the PIL pipeline, so one seeded generator gives both pipelines the
same parameters and the same relative position; only pixel values differ, by a few grey levels.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image

from siameseim.registry import TRANSFORMS

from . import array_ops
from .decoding import JPEG_REDUCTIONS, EncodedImage
from .transforms import (CROP_RATIO, IMAGENET_MEAN, IMAGENET_STD, PhotometricAugment, SiameseTwoViewTransform,
                         ViewGeometry, relative_position)


class ArrayPhotometricAugment(PhotometricAugment):
    """:class:`PhotometricAugment` (same arguments, same draws) applied to a ``uint8 [H, W, 3]`` array."""

    def color_jitter(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """torchvision ``ColorJitter``: four factors, applied in a random order."""
        order = rng.permutation(4)
        factors = [rng.uniform(low, high) for low, high in self.jitter_ranges]
        adjust = (array_ops.adjust_brightness, array_ops.adjust_contrast, array_ops.adjust_saturation,
                  array_ops.adjust_hue)
        for k in order:
            img = adjust[k](img, factors[k])
        return img

    def __call__(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The augmented array (a new one, or ``img`` itself when nothing applies)."""
        if rng.random() < self.jitter_prob:
            img = self.color_jitter(img, rng)
        if rng.random() < self.grayscale_prob:
            img = array_ops.to_grayscale(img)
        if rng.random() < self.blur_prob:
            img = array_ops.gaussian_blur(img, rng.uniform(*self.blur_sigma))
        if rng.random() < self.solarize_prob:
            img = array_ops.solarize(img, self.solarize_threshold)
        return img


def decode_reduction(geometries: Sequence[ViewGeometry], size: int) -> int:
    """The largest JPEG reduction (8, 4, 2, else 1) that leaves every crop at least ``size`` pixels on its
    shorter side, so no view is enlarged from a reduced decode."""
    shortest = min(min(g.h, g.w) for g in geometries)
    return next((r for r in JPEG_REDUCTIONS if shortest >= r * size), 1)


@TRANSFORMS.register_module()
class FastSiameseTwoViewTransform(SiameseTwoViewTransform):
    """SiameseIM's two views of one image and their relative position, computed on ``uint8`` arrays.

    Takes the arguments of :class:`SiameseTwoViewTransform` and returns the same
    ``dict(view1=float32[3,S,S], view2=float32[3,S,S], relpos=float64[6])`` (``views`` and ``color_aug`` as
    there). ``reduced_decode=False``
    always decodes at full size. Takes an :class:`~siameseim.pretrain.data.decoding.EncodedImage` (what
    :class:`PretrainImageFolder` passes it) or a PIL image (decoded at full size); decode errors raise
    :class:`~siameseim.pretrain.data.decoding.UnreadableImageError`.
    """

    # PretrainImageFolder hands this transform an EncodedImage: bytes and header, not yet decoded.
    lazy_decode = True
    photometric_type = ArrayPhotometricAugment

    def __init__(self,
                 input_size: int = 224,
                 crop_min: float = 0.08,
                 ratio: Tuple[float, float] = CROP_RATIO,
                 flip_prob: float = 0.5,
                 jitter_prob: float = 0.8,
                 grayscale_prob: float = 0.2,
                 blur_prob: Tuple[float, float] = (1.0, 0.1),
                 solarize_prob: Tuple[float, float] = (0.0, 0.2),
                 mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD,
                 reduced_decode: bool = True,
                 views: str = 'different',
                 color_aug: bool = True) -> None:
        super().__init__(input_size, crop_min, ratio, flip_prob, jitter_prob, grayscale_prob, blur_prob,
                         solarize_prob, mean, std, views=views, color_aug=color_aug)
        self.normalize = array_ops.Normalize(self.mean, self.std)
        self.reduced_decode = reduced_decode

    def crop_views(self, img: Union[EncodedImage, Image.Image],
                   geometries: Sequence[ViewGeometry]) -> Tuple[np.ndarray, np.ndarray]:
        """Decode ``img`` (reduced when both crops allow it) and return each view's flipped, resized crop."""
        width, size = img.width, self.input_size
        encoded = isinstance(img, EncodedImage)
        reduction = decode_reduction(geometries, size) if encoded and self.reduced_decode else 1
        if reduction > 1:
            decoded, reduction = img.decode_reduced(reduction)   # 1 if the file is not a JPEG
            pixels = np.asarray(decoded) if reduction == 1 else None
        else:
            pixels = img.decode() if encoded else np.asarray(img.convert('RGB'))
        crops = []
        for g in geometries:
            left = width - g.j - g.w if g.flip else g.j   # the box in the unflipped image
            if reduction == 1:
                crops.append(array_ops.resized_crop(pixels, (g.i, left, g.h, g.w), size, g.flip))
            else:   # fractional box on the reduced image: Pillow's resize takes it exactly
                box = (left / reduction, g.i / reduction, (left + g.w) / reduction, (g.i + g.h) / reduction)
                crop = np.asarray(decoded.resize((size, size), Image.BICUBIC, box=box))
                crops.append(array_ops.hflip(crop) if g.flip else crop)
        return crops[0], crops[1]

    def __call__(self,
                 img: Union[EncodedImage, Image.Image],
                 rng: Optional[np.random.Generator] = None) -> Dict[str, torch.Tensor]:
        """Both views and ``relpos`` of ``img``; pass a seeded generator for reproducible draws."""
        array_ops.single_threaded_opencv()
        rng = np.random.default_rng() if rng is None else rng
        geometries = self.sample_geometry(img.height, img.width, rng)
        crops = self.crop_views(img, geometries)
        view1, view2 = (self.normalize(self.color_view(view, crop, rng)) for view, crop in enumerate(crops))
        relpos = torch.tensor(relative_position(*geometries, img.width), dtype=torch.float64)
        return dict(view1=view1, view2=view2, relpos=relpos)
