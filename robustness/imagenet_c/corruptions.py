"""The 15 ImageNet-C test corruptions, ported from hendrycks/robustness ``make_imagenet_c.py``.

Each function maps an RGB uint8 image ``[H, W, 3]`` (224² in ImageNet-C) and a severity 1–5 to a float
array in [0, 255] (the caller truncates to uint8 and saves JPEG quality 85, as the original does). Random
draws come from a ``numpy.random.RandomState`` in the original's call order, so parameters and distributions
are the original's; the released files were made without a seed and cannot be regenerated bit for bit.

Differences from the original code (which needs Wand/ImageMagick, scikit-image and removed NumPy aliases):

* scikit-image is not used. ``skimage.filters.gaussian`` → ``scipy.ndimage.gaussian_filter`` with the same
  sigma, mode and truncation (identical up to float rounding); ``random_noise('s&p')`` → the same per-element
  draw (flip with probability ``amount``, salt or pepper with 1/2 each); ``skimage.color.rgb2hsv`` /
  ``hsv2rgb`` of ``brightness`` → the same float64 operations in the same order (:func:`rgb_to_hsv`,
  :func:`hsv_to_rgb`), so ``brightness`` is bit-exact.
* ``motion_blur`` and the snow layer of ``snow``: ImageMagick's ``-motion-blur radius×sigma+angle`` is
  replaced by the re-implementation of the ``imagecorruptions`` package (``2·radius+1`` copies shifted along
  the angle with edge replication, weighted by a one-sided Gaussian of ``sigma``): visually close,
  numerically different, since ImageMagick's kernel is not reproducible without it. Everything around the
  blur is the original's: ``snow`` truncates its layer to uint8 before the blur (the original writes it as an
  8-bit PNG) and rounds the blurred layer to 8 bits (ImageMagick returns an 8-bit image), and
  ``motion_blur`` rounds to 8 bits as well.
* ``frost``: the original blends a random 224² crop of one of the first five of six frost photographs shipped
  with its code. Pass ``frost_textures=DIR`` (files ``frost1.png … frost6.jpg``) to do exactly that; without
  them a frost texture is synthesised (plasma-fractal haze plus random ice needles), which differs in
  appearance from ImageNet-C's frost.
* ``glass_blur``: the original's per-pixel "swap" ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` is, with NumPy
  views, a copy ``x[h, w] = x[h', w']``; that behaviour is kept. Offsets are drawn in one call rather than one
  call per pixel (same distribution, different stream).
* Image sizes other than 224 work (the fog fractal grows to the next power of two, glass blur loops over
  the real size); at 224 the geometry is the original's.
"""
import math
import os
from io import BytesIO
from typing import Callable, Dict, Optional

import cv2
import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter, map_coordinates
from scipy.ndimage import zoom as scizoom

from ..metrics.mce import CORRUPTIONS

Rng = np.random.RandomState


def _gaussian(x: np.ndarray, sigma: float, mode: str = 'nearest', truncate: float = 4.0) -> np.ndarray:
    """``skimage.filters.gaussian``: spatial axes only, float output."""
    sigmas = (sigma, sigma) + (0,) * (x.ndim - 2)
    return gaussian_filter(x.astype(np.float64), sigma=sigmas, mode=mode, truncate=truncate)


def disk(radius: float, alias_blur: float = 0.1, dtype=np.float32) -> np.ndarray:
    """The anti-aliased disk kernel of ``defocus_blur``."""
    if radius <= 8:
        grid, ksize = np.arange(-8, 8 + 1), (3, 3)
    else:
        grid, ksize = np.arange(-radius, radius + 1), (5, 5)
    xx, yy = np.meshgrid(grid, grid)
    kernel = np.array((xx ** 2 + yy ** 2) <= radius ** 2, dtype=dtype)
    kernel /= np.sum(kernel)
    return cv2.GaussianBlur(kernel, ksize=ksize, sigmaX=alias_blur)


def plasma_fractal(rng: Rng, mapsize: int = 256, wibbledecay: float = 3) -> np.ndarray:
    """Diamond-square height map in [0, 1] of ``mapsize``² (a power of two), float64."""
    if mapsize & (mapsize - 1):
        raise ValueError(f'plasma fractal size must be a power of two, got {mapsize}')
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    stepsize, wibble = mapsize, 100.0

    def wibbledmean(array: np.ndarray) -> np.ndarray:
        return array / 4 + wibble * rng.uniform(-wibble, wibble, array.shape)

    while stepsize >= 2:
        half = stepsize // 2
        cornerref = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        squareaccum = cornerref + np.roll(cornerref, shift=-1, axis=0)
        squareaccum += np.roll(squareaccum, shift=-1, axis=1)
        maparray[half:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(squareaccum)
        drgrid = maparray[half:mapsize:stepsize, half:mapsize:stepsize]
        ulgrid = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        ltsum = drgrid + np.roll(drgrid, 1, axis=0) + ulgrid + np.roll(ulgrid, -1, axis=1)
        maparray[0:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(ltsum)
        ttsum = drgrid + np.roll(drgrid, 1, axis=1) + ulgrid + np.roll(ulgrid, -1, axis=0)
        maparray[half:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(ttsum)
        stepsize //= 2
        wibble /= wibbledecay
    maparray -= maparray.min()
    return maparray / maparray.max()


def clipped_zoom(img: np.ndarray, zoom_factor: float) -> np.ndarray:
    """Zoom the centre by ``zoom_factor`` (bilinear) and crop back to the input size."""
    h, w = img.shape[:2]
    ch, cw = int(np.ceil(h / zoom_factor)), int(np.ceil(w / zoom_factor))
    top, left = (h - ch) // 2, (w - cw) // 2
    img = scizoom(img[top:top + ch, left:left + cw], (zoom_factor, zoom_factor, 1), order=1)
    trim_top, trim_left = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    return img[trim_top:trim_top + h, trim_left:trim_left + w]


def _shift(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``image`` moved by ``(dx, dy)`` pixels, the vacated border filled with the nearest edge row/column."""
    h, w = image.shape[:2]
    padded = np.pad(image, ((abs(dy), abs(dy)), (abs(dx), abs(dx))) + ((0, 0),) * (image.ndim - 2), mode='edge')
    top, left = abs(dy) - dy, abs(dx) - dx
    return padded[top:top + h, left:left + w]


def motion_blur_kernel_blur(x: np.ndarray, radius: int, sigma: float, angle: float) -> np.ndarray:
    """Linear motion blur along ``angle`` degrees (imagecorruptions' stand-in for ImageMagick's)."""
    width = 2 * radius + 1
    kernel = np.exp(-np.arange(width) ** 2 / (2 * sigma ** 2))
    kernel /= kernel.sum()
    point = (width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle)))
    hypot = math.hypot(*point)
    blurred = np.zeros(x.shape, dtype=np.float32)
    for i in range(width):
        dy = -math.ceil(i * point[0] / hypot - 0.5)
        dx = -math.ceil(i * point[1] / hypot - 0.5)
        if abs(dy) >= x.shape[0] or abs(dx) >= x.shape[1]:
            break
        blurred += kernel[i] * _shift(x, dx, dy)
    return blurred


def gaussian_noise(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    c = [.08, .12, 0.18, 0.26, 0.38][severity - 1]
    x = np.asarray(x) / 255.
    return np.clip(x + rng.normal(size=x.shape, scale=c), 0, 1) * 255


def shot_noise(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    c = [60, 25, 12, 5, 3][severity - 1]
    x = np.asarray(x) / 255.
    return np.clip(rng.poisson(x * c) / c, 0, 1) * 255


def impulse_noise(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    c = [.03, .06, .09, 0.17, 0.27][severity - 1]
    x = np.asarray(x) / 255.
    flipped = rng.random_sample(x.shape) < c
    salted = rng.random_sample(x.shape) < 0.5
    out = x.copy()
    out[flipped & salted] = 1.0
    out[flipped & ~salted] = 0.0
    return np.clip(out, 0, 1) * 255


def defocus_blur(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    c = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)][severity - 1]
    x = np.asarray(x) / 255.
    kernel = disk(radius=c[0], alias_blur=c[1])
    channels = np.stack([cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)], axis=-1)
    return np.clip(channels, 0, 1) * 255


def glass_blur(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    sigma, delta, iterations = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][severity - 1]
    x = np.uint8(_gaussian(np.asarray(x) / 255., sigma) * 255)
    h, w = x.shape[:2]
    pixels = x.reshape(h * w, 3).tolist()
    rows, cols = range(h - delta, delta, -1), range(w - delta, delta, -1)
    for _ in range(iterations):
        offsets = rng.randint(-delta, delta, size=(len(rows) * len(cols), 2)).tolist()
        k = 0
        for row in rows:
            for col in cols:
                dx, dy = offsets[k]
                k += 1
                pixels[row * w + col] = pixels[(row + dy) * w + col + dx]
    x = np.asarray(pixels, dtype=np.uint8).reshape(h, w, 3)
    return np.clip(_gaussian(x / 255., sigma), 0, 1) * 255


def to_8_bits(x: np.ndarray) -> np.ndarray:
    """``x`` in [0, 255] rounded to the nearest uint8, as ImageMagick exports an 8-bit image."""
    return np.floor(np.clip(x, 0, 255) + 0.5).astype(np.uint8)


def motion_blur(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    radius, sigma = [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][severity - 1]
    x = motion_blur_kernel_blur(np.asarray(x, dtype=np.float32), radius, sigma, rng.uniform(-45, 45))
    return to_8_bits(x).astype(np.float64)


def zoom_blur(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    c = [np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
         np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03)][severity - 1]
    x = (np.asarray(x) / 255.).astype(np.float32)
    out = np.zeros_like(x)
    for zoom_factor in c:
        out += clipped_zoom(x, zoom_factor)
    return np.clip((x + out) / (len(c) + 1), 0, 1) * 255


def snow(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    c = [(0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
         (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)][severity - 1]
    x = np.asarray(x, dtype=np.float32) / 255.
    h, w = x.shape[:2]
    layer = rng.normal(size=(h, w), loc=c[0], scale=c[1])
    layer = clipped_zoom(layer[..., np.newaxis], c[2])
    layer[layer < c[3]] = 0
    layer = (np.clip(layer.squeeze(-1), 0, 1) * 255).astype(np.uint8)  # the original's 8-bit PNG
    layer = motion_blur_kernel_blur(layer.astype(np.float32), c[4], c[5], rng.uniform(-135, -45))
    layer = (to_8_bits(layer) / 255.)[..., np.newaxis]
    grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(h, w, 1)
    x = c[6] * x + (1 - c[6]) * np.maximum(x, grey * 1.5 + 0.5)
    return np.clip(x + layer + np.rot90(layer, k=2), 0, 1) * 255


FROST_FILES = ('frost1.png', 'frost2.png', 'frost3.png', 'frost4.jpg', 'frost5.jpg', 'frost6.jpg')


def synthetic_frost(rng: Rng, height: int, width: int) -> np.ndarray:
    """A frost-like RGB texture in [0, 255]: icy haze from a plasma fractal plus bright random ice needles."""
    size = 1 << max(height, width, 2).__sub__(1).bit_length()
    haze = plasma_fractal(rng, size, wibbledecay=1.6)[:height, :width]
    needles = np.zeros((height, width), dtype=np.float32)
    for _ in range(int(height * width / 150)):
        y, x = rng.randint(0, height), rng.randint(0, width)
        angle, length = rng.uniform(0, np.pi), rng.uniform(3, 18)
        end = (int(x + length * np.cos(angle)), int(y + length * np.sin(angle)))
        cv2.line(needles, (x, y), end, float(rng.uniform(0.4, 1.0)), 1, cv2.LINE_AA)
    needles = cv2.GaussianBlur(needles, (3, 3), 0.6)
    texture = np.clip(0.55 * haze + 0.75 * needles, 0, 1)[..., np.newaxis]
    tint = np.array([0.85, 0.93, 1.0])
    return texture * tint * 255


def frost(x: np.ndarray, severity: int, rng: Rng, frost_textures: Optional[str] = None) -> np.ndarray:
    c = [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)][severity - 1]
    x = np.asarray(x)
    h, w = x.shape[:2]
    idx = rng.randint(5)
    if frost_textures:
        path = os.path.join(frost_textures, FROST_FILES[idx])
        texture = cv2.imread(path)
        if texture is None:
            raise FileNotFoundError(f'frost texture {path} is missing or unreadable: copy frost1.png … frost6.jpg '
                                    f'from hendrycks/robustness ImageNet-C/create_c, or omit the texture folder')
        top, left = rng.randint(0, texture.shape[0] - h), rng.randint(0, texture.shape[1] - w)
        texture = texture[top:top + h, left:left + w][..., [2, 1, 0]]
    else:
        texture = synthetic_frost(rng, h, w)
    return np.clip(c[0] * x + c[1] * texture, 0, 255)


def fog(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    c = [(1.5, 2), (2., 2), (2.5, 1.7), (2.5, 1.5), (3., 1.4)][severity - 1]
    x = np.asarray(x) / 255.
    h, w = x.shape[:2]
    size = max(256, 1 << (max(h, w) - 1).bit_length())
    max_val = x.max()
    x = x + c[0] * plasma_fractal(rng, size, wibbledecay=c[1])[:h, :w][..., np.newaxis]
    return np.clip(x * max_val / (max_val + c[0]), 0, 1) * 255


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """``skimage.color.rgb2hsv`` of a float ``[..., 3]`` image: the same operations, so the same bits."""
    out = np.empty_like(rgb)
    value = rgb.max(-1)
    delta = np.ptp(rgb, axis=-1)
    with np.errstate(invalid='ignore', divide='ignore'):
        saturation = delta / value
        saturation[delta == 0.0] = 0.0
        for channel, offset in enumerate((0.0, 2.0, 4.0)):  # red, green, blue is the max; later ones win
            idx = rgb[..., channel] == value
            a, b = rgb[idx, (channel + 1) % 3], rgb[idx, (channel + 2) % 3]
            ratio = (a - b) / delta[idx]
            out[idx, 0] = offset + ratio if channel else ratio
        hue = (out[..., 0] / 6.0) % 1.0
        hue[delta == 0.0] = 0.0
    out[..., 0], out[..., 1], out[..., 2] = hue, saturation, value
    out[np.isnan(out)] = 0
    return out


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """``skimage.color.hsv2rgb`` of a float ``[..., 3]`` image: the same operations, so the same bits."""
    hi = np.floor(hsv[..., 0] * 6)
    f = hsv[..., 0] * 6 - hi
    p = hsv[..., 2] * (1 - hsv[..., 1])
    q = hsv[..., 2] * (1 - f * hsv[..., 1])
    t = hsv[..., 2] * (1 - (1 - f) * hsv[..., 1])
    v = hsv[..., 2]
    hi = np.stack([hi, hi, hi], axis=-1).astype(np.uint8) % 6
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    return np.choose(hi, np.stack([np.stack(choice, axis=-1) for choice in choices]))


def brightness(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    c = [.1, .2, .3, .4, .5][severity - 1]
    x = rgb_to_hsv(np.asarray(x) / 255.)
    x[:, :, 2] = np.clip(x[:, :, 2] + c, 0, 1)
    return np.clip(hsv_to_rgb(x), 0, 1) * 255


def contrast(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    c = [0.4, .3, .2, .1, .05][severity - 1]
    x = np.asarray(x) / 255.
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1) * 255


def elastic_transform(image: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    # 244 (sic) is the original's constant; at 224 pixels the parameters are what ImageNet-C used.
    c = [(244 * 2, 244 * 0.7, 244 * 0.1), (244 * 2, 244 * 0.08, 244 * 0.2), (244 * 0.05, 244 * 0.01, 244 * 0.02),
         (244 * 0.07, 244 * 0.01, 244 * 0.02), (244 * 0.12, 244 * 0.01, 244 * 0.02)][severity - 1]
    image = np.asarray(image, dtype=np.float32) / 255.
    shape = image.shape
    shape_size = shape[:2]
    center_square = np.float32(shape_size) // 2
    square_size = min(shape_size) // 3
    pts1 = np.float32([center_square + square_size, [center_square[0] + square_size, center_square[1] - square_size],
                       center_square - square_size])
    pts2 = pts1 + rng.uniform(-c[2], c[2], size=pts1.shape).astype(np.float32)
    matrix = cv2.getAffineTransform(pts1, pts2)
    image = cv2.warpAffine(image, matrix, shape_size[::-1], borderMode=cv2.BORDER_REFLECT_101)
    dx = (_gaussian(rng.uniform(-1, 1, size=shape[:2]), c[1], mode='reflect', truncate=3) * c[0]).astype(np.float32)
    dy = (_gaussian(rng.uniform(-1, 1, size=shape[:2]), c[1], mode='reflect', truncate=3) * c[0]).astype(np.float32)
    dx, dy = dx[..., np.newaxis], dy[..., np.newaxis]
    xx, yy, zz = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
    indices = np.reshape(yy + dy, (-1, 1)), np.reshape(xx + dx, (-1, 1)), np.reshape(zz, (-1, 1))
    return np.clip(map_coordinates(image, indices, order=1, mode='reflect').reshape(shape), 0, 1) * 255


def pixelate(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    c = [0.6, 0.5, 0.4, 0.3, 0.25][severity - 1]
    image = Image.fromarray(np.asarray(x, dtype=np.uint8))
    w, h = image.size
    image = image.resize((int(w * c), int(h * c)), Image.BOX).resize((w, h), Image.BOX)
    return np.asarray(image, dtype=np.float64)


def jpeg_compression(x: np.ndarray, severity: int, rng: Rng) -> np.ndarray:
    c = [25, 18, 15, 10, 7][severity - 1]
    output = BytesIO()
    Image.fromarray(np.asarray(x, dtype=np.uint8)).save(output, 'JPEG', quality=c)
    with Image.open(output) as image:
        return np.asarray(image.convert('RGB'), dtype=np.float64)


CORRUPTION_FUNCTIONS: Dict[str, Callable[..., np.ndarray]] = {
    'gaussian_noise': gaussian_noise, 'shot_noise': shot_noise, 'impulse_noise': impulse_noise,
    'defocus_blur': defocus_blur, 'glass_blur': glass_blur, 'motion_blur': motion_blur, 'zoom_blur': zoom_blur,
    'snow': snow, 'frost': frost, 'fog': fog, 'brightness': brightness, 'contrast': contrast,
    'elastic_transform': elastic_transform, 'pixelate': pixelate, 'jpeg_compression': jpeg_compression,
}
assert tuple(CORRUPTION_FUNCTIONS) == CORRUPTIONS


def corrupt(image: np.ndarray, corruption: str, severity: int, rng: Optional[Rng] = None,
            frost_textures: Optional[str] = None) -> np.ndarray:
    """``corruption`` at ``severity`` of an RGB uint8 ``[H, W, 3]`` image, as uint8 (truncated, like the
    original's ``np.uint8``)."""
    if corruption not in CORRUPTION_FUNCTIONS:
        raise ValueError(f'unknown corruption {corruption!r}: choose from {", ".join(CORRUPTIONS)}')
    if severity not in (1, 2, 3, 4, 5):
        raise ValueError(f'severity must be 1..5, got {severity}')
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f'expected an RGB uint8 image [H, W, 3], got {image.dtype} {image.shape}')
    rng = rng if rng is not None else np.random.mtrand._rand
    kwargs = dict(frost_textures=frost_textures) if corruption == 'frost' else {}
    return np.uint8(CORRUPTION_FUNCTIONS[corruption](image, severity, rng, **kwargs))
