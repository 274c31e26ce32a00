"""Pretraining image transforms: the SiameseIM two-view pipeline and the MAE single-view pipeline.

SiameseIM (docs/method.md §4.1–4.3): each view independently flips the whole image (p = 0.5) and then takes a
torchvision-style random-resized crop of the (possibly flipped) image, so crop offsets of a flipped view
live in flipped-image coordinates. The six-field relative-position tuple
``(δi, δj, δh, δw, f, δj_flip)`` locates view 2 in view 1's frame; ``siameseim.pretrain.models.relative_pos_embed``
turns it into the query positions. The photometric augmentations are the asymmetric BYOL/MoCo-v3 pair.

All randomness comes from the ``numpy.random.Generator`` passed to ``__call__`` (torchvision's transforms
would draw from torch's global generator), so a seeded generator reproduces a sample exactly.
"""
import math
from typing import Any, Dict, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image, ImageFilter, ImageOps
from torchvision.transforms import InterpolationMode

from siameseim.registry import TRANSFORMS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)
# Attempts of torchvision's RandomResizedCrop before its centred fallback.
_CROP_ATTEMPTS = 10
# Geometry of the two SiameseIM views: independent crops (released) or one crop for both (the ablation).
VIEW_MODES = ('different', 'same')


class ViewGeometry(NamedTuple):
    """One view's geometry: ``flip`` of the whole image first, then the crop box ``(i, j, h, w)`` in pixels
    of the (possibly flipped) image (top, left, height, width)."""
    i: int
    j: int
    h: int
    w: int
    flip: bool


def random_resized_crop_params(height: int,
                               width: int,
                               rng: np.random.Generator,
                               scale: Tuple[float, float] = (0.08, 1.0),
                               ratio: Tuple[float, float] = CROP_RATIO) -> Tuple[int, int, int, int]:
    """Crop box ``(i, j, h, w)`` drawn with torchvision's ``RandomResizedCrop.get_params`` algorithm.

    Up to 10 attempts of area ``U(scale)·H·W`` and log-uniform aspect ``w/h`` in ``ratio``; the first box that
    fits gets a uniform position. Otherwise the centred fallback: the whole image, clipped to the aspect range.
    """
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(_CROP_ATTEMPTS):
        target_area = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        w, h = int(round(height * max(ratio))), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def sample_view_geometry(height: int,
                         width: int,
                         rng: np.random.Generator,
                         scale: Tuple[float, float] = (0.08, 1.0),
                         ratio: Tuple[float, float] = CROP_RATIO,
                         flip_prob: float = 0.5) -> ViewGeometry:
    """Draw the flip flag, then a crop of the (flipped) ``height × width`` image (docs/method.md §4.1)."""
    flip = bool(rng.random() < flip_prob)
    return ViewGeometry(*random_resized_crop_params(height, width, rng, scale, ratio), flip=flip)


def apply_view_geometry(img: Image.Image, geometry: ViewGeometry, size: int) -> Image.Image:
    """Flip the whole image if asked, then crop the box and resize it bicubically to ``size × size``."""
    if geometry.flip:
        img = TF.hflip(img)
    return TF.resized_crop(img, geometry.i, geometry.j, geometry.h, geometry.w, [size, size],
                           InterpolationMode.BICUBIC)


def relative_position(view1: ViewGeometry, view2: ViewGeometry,
                      image_width: int) -> Tuple[float, float, float, float, float, float]:
    """``(δi, δj, δh, δw, f, δj_flip)`` of view 2 relative to view 1, in units of view 1's crop
    (docs/method.md §4.3).

    ``f`` is 1.0 when exactly one view is flipped; ``δj_flip = (W − j1 − j2)/w1`` is the column offset to
    use in that case (view 2's crop mirrored into view 1's frame).
    """
    return ((view2.i - view1.i) / view1.h,
            (view2.j - view1.j) / view1.w,
            view2.h / view1.h,
            view2.w / view1.w,
            float(view1.flip != view2.flip),
            (image_width - view1.j - view2.j) / view1.w)


class PhotometricAugment:
    """Colour jitter (random order), grayscale, Gaussian blur and solarisation, each applied at random.

    The operations and their parameter ranges are torchvision's ``ColorJitter``/``RandomGrayscale`` and
    MoCo-v3's PIL ``GaussianBlur``/``Solarize``; only the source of randomness differs.
    """

    def __init__(self,
                 jitter_prob: float = 0.8,
                 brightness: float = 0.4,
                 contrast: float = 0.4,
                 saturation: float = 0.2,
                 hue: float = 0.1,
                 grayscale_prob: float = 0.2,
                 blur_prob: float = 1.0,
                 blur_sigma: Tuple[float, float] = (0.1, 2.0),
                 solarize_prob: float = 0.0,
                 solarize_threshold: int = 128) -> None:
        self.jitter_prob = jitter_prob
        self.jitter_ranges = ((max(0.0, 1 - brightness), 1 + brightness), (max(0.0, 1 - contrast), 1 + contrast),
                              (max(0.0, 1 - saturation), 1 + saturation), (-hue, hue))
        self.grayscale_prob = grayscale_prob
        self.blur_prob = blur_prob
        self.blur_sigma = blur_sigma
        self.solarize_prob = solarize_prob
        self.solarize_threshold = solarize_threshold

    def color_jitter(self, img: Image.Image, rng: np.random.Generator) -> Image.Image:
        """torchvision ``ColorJitter``: four factors, applied in a random order."""
        order = rng.permutation(4)
        factors = [rng.uniform(low, high) for low, high in self.jitter_ranges]
        adjust = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
        for k in order:
            img = adjust[k](img, factors[k])
        return img

    def __call__(self, img: Image.Image, rng: np.random.Generator) -> Image.Image:
        if rng.random() < self.jitter_prob:
            img = self.color_jitter(img, rng)
        if rng.random() < self.grayscale_prob:
            img = TF.rgb_to_grayscale(img, num_output_channels=3)
        if rng.random() < self.blur_prob:
            img = img.filter(ImageFilter.GaussianBlur(radius=rng.uniform(*self.blur_sigma)))
        if rng.random() < self.solarize_prob:
            img = ImageOps.solarize(img, self.solarize_threshold)
        return img


def to_normalized_tensor(img: Image.Image, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``ToTensor`` then ``Normalize``: float32 ``[3, H, W]``."""
    return TF.normalize(TF.to_tensor(img), mean, std)


@TRANSFORMS.register_module()
class SiameseTwoViewTransform:
    """SiameseIM's two views of one image and their relative position.

    Returns ``dict(view1=float32[3,S,S], view2=float32[3,S,S], relpos=float64[6])`` where ``relpos`` is
    ``(δi, δj, δh, δw, f, δj_flip)``. View 1 (online, masked) always gets a blur and never a solarisation;
    view 2 (target) gets a blur with p = 0.1 and a solarisation with p = 0.2 (docs/method.md §4.2). Both
    ``*_prob`` pairs are ``(view 1, view 2)``.

    Two switches of the ablation (docs/ablation.md): ``views='same'`` draws one geometry (flip and crop) and
    gives it to both views, so they differ at most in colour (``relpos`` is then the identity
    ``(0, 0, 1, 1, 0, ·)``); ``color_aug=False`` skips the photometric augmentations of both views (MAE's
    pipeline has none).
    """

    # The per-view photometric augmentation; subclasses working on other image types swap it.
    photometric_type = PhotometricAugment

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
                 views: str = 'different',
                 color_aug: bool = True) -> None:
        if views not in VIEW_MODES:
            raise ValueError(f"views must be 'different' (two crops) or 'same' (one crop for both), got {views!r}")
        self.input_size = input_size
        self.scale = (crop_min, 1.0)
        self.ratio = tuple(ratio)
        self.flip_prob = flip_prob
        self.views = views
        self.color_aug = color_aug
        if len(blur_prob) != 2 or len(solarize_prob) != 2:
            raise ValueError(f'blur_prob and solarize_prob are (view 1, view 2) pairs, '
                             f'got {blur_prob} and {solarize_prob}')
        self.photometric = tuple(
            self.photometric_type(jitter_prob=jitter_prob, grayscale_prob=grayscale_prob, blur_prob=blur,
                                  solarize_prob=solarize) for blur, solarize in zip(blur_prob, solarize_prob))
        self.mean, self.std = tuple(mean), tuple(std)

    def sample_geometry(self, height: int, width: int,
                        rng: np.random.Generator) -> Tuple[ViewGeometry, ViewGeometry]:
        """Two independent view geometries (view 1, view 2) for a ``height × width`` image; one geometry twice
        with ``views='same'``."""
        first = sample_view_geometry(height, width, rng, self.scale, self.ratio, self.flip_prob)
        if self.views == 'same':
            return first, first
        return first, sample_view_geometry(height, width, rng, self.scale, self.ratio, self.flip_prob)

    def color_view(self, view: int, img: Any, rng: np.random.Generator) -> Any:
        """View ``view`` (0 or 1)'s photometric augmentation of ``img``, or ``img`` itself without ``color_aug``."""
        return self.photometric[view](img, rng) if self.color_aug else img

    def __call__(self, img: Image.Image, rng: Optional[np.random.Generator] = None) -> Dict[str, torch.Tensor]:
        """Both views and ``relpos`` of ``img``; pass a seeded generator for reproducible draws."""
        rng = np.random.default_rng() if rng is None else rng
        geometries = self.sample_geometry(img.height, img.width, rng)
        crops = (apply_view_geometry(img, geometry, self.input_size) for geometry in geometries)
        view1, view2 = (to_normalized_tensor(self.color_view(view, crop, rng), self.mean, self.std)
                        for view, crop in enumerate(crops))
        relpos = torch.tensor(relative_position(*geometries, img.width), dtype=torch.float64)
        return dict(view1=view1, view2=view2, relpos=relpos)


@TRANSFORMS.register_module()
class MAEPretrainTransform:
    """MAE's pretraining input: random-resized crop (scale ``(crop_min, 1)``, bicubic), horizontal flip,
    ImageNet normalisation (docs/method.md §3.6). Returns ``dict(inputs=float32[3,S,S])``.

    The flip is drawn before the crop, as for SiameseIM views; that is equal in distribution to MAE's
    crop-then-flip because crop positions are uniform.
    """

    def __init__(self,
                 input_size: int = 224,
                 crop_min: float = 0.2,
                 ratio: Tuple[float, float] = CROP_RATIO,
                 flip_prob: float = 0.5,
                 mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> None:
        self.input_size = input_size
        self.scale = (crop_min, 1.0)
        self.ratio = tuple(ratio)
        self.flip_prob = flip_prob
        self.mean, self.std = tuple(mean), tuple(std)

    def __call__(self, img: Image.Image, rng: Optional[np.random.Generator] = None) -> Dict[str, torch.Tensor]:
        """The MAE input of ``img``; pass a seeded generator for reproducible draws."""
        rng = np.random.default_rng() if rng is None else rng
        geometry = sample_view_geometry(img.height, img.width, rng, self.scale, self.ratio, self.flip_prob)
        return dict(inputs=to_normalized_tensor(apply_view_geometry(img, geometry, self.input_size), self.mean,
                                                self.std))
