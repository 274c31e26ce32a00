"""torchvision's PIL augmentations re-done on ``uint8 [H, W, 3]`` RGB arrays with OpenCV and torch kernels.

Each function reproduces the PIL operation's arithmetic where that is cheap — Pillow's ``Image.blend``
truncates ``m + f·(x − m)`` towards zero, so brightness, contrast and saturation truncate too (they differ
only where Pillow's float32 product falls a hair below a whole number), and solarisation is the same lookup
table — and otherwise its definition:
hue is rotated in OpenCV's 8-bit HSV (256 steps per turn; PIL's has 255), the blur is a true Gaussian of
standard deviation σ (Pillow approximates one by three box blurs of the same variance), and the resize is
torch's antialiased bicubic, which follows Pillow's filter. None of this needs PIL's per-pixel HSV round
trip or float images; results match torchvision's within a few grey levels.
"""
import os
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

_VALUES = np.arange(256)
# Per hue shift s (mod 256): a lookup table for HSV arrays that adds s to H (wrapping) and keeps S and V.
_HUE_SHIFT_TABLES = [np.stack([(_VALUES + shift) % 256, _VALUES, _VALUES], -1)[None].astype(np.uint8)
                     for shift in range(256)]
# Subtracted before OpenCV's round-to-nearest so that it truncates like Pillow's blend (a whole number
# that float arithmetic left a hair below itself still maps to itself).
_TRUNCATE = -0.499
_configured_pid: Optional[int] = None


def single_threaded_opencv() -> None:
    """Run OpenCV single-threaded in this process (checked once per process; parallelism comes from the
    data-loader workers).

    This matters beyond speed: a data-loader worker forked from a process whose OpenCV thread pool has run
    deadlocks in its first multi-threaded OpenCV call (and sometimes already when it reconfigures the pool),
    so the pool must never start in the main process either. mmengine's runner sets the same in the main
    process (``env_cfg.mp_cfg.opencv_num_threads = 0``).
    """
    global _configured_pid
    if _configured_pid != os.getpid():
        if cv2.getNumThreads() > 1:
            cv2.setNumThreads(1)
        _configured_pid = os.getpid()


def _blend(img: np.ndarray, factor: float, degenerate: float) -> np.ndarray:
    """Pillow's ``blend(degenerate, img, factor)`` with a constant ``degenerate``: ``m + f·(x − m)``, truncated."""
    return cv2.addWeighted(img, factor, img, 0.0, (1.0 - factor) * degenerate + _TRUNCATE)


def adjust_brightness(img: np.ndarray, factor: float) -> np.ndarray:
    """``TF.adjust_brightness``: blend with black."""
    return _blend(img, factor, 0.0)


def gray(img: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma ``[H, W]``, as PIL's ``convert('L')`` (OpenCV rounds the same weights)."""
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def adjust_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """``TF.adjust_contrast``: blend with the mean grey level, rounded to an integer as PIL does."""
    return _blend(img, factor, int(cv2.mean(gray(img))[0] + 0.5))


def adjust_saturation(img: np.ndarray, factor: float) -> np.ndarray:
    """``TF.adjust_saturation``: blend with the image's own grey version."""
    return cv2.addWeighted(img, factor, cv2.cvtColor(gray(img), cv2.COLOR_GRAY2RGB), 1.0 - factor, _TRUNCATE)


def adjust_hue(img: np.ndarray, factor: float) -> np.ndarray:
    """``TF.adjust_hue``: rotate the hue by ``int(255·factor)`` steps (torchvision's quantisation)."""
    shift = int(np.int32(factor * 255)) % 256
    if shift == 0:
        return img
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV_FULL)
    return cv2.cvtColor(cv2.LUT(hsv, _HUE_SHIFT_TABLES[shift]), cv2.COLOR_HSV2RGB_FULL)


def to_grayscale(img: np.ndarray) -> np.ndarray:
    """``TF.rgb_to_grayscale(img, 3)``: luma in all three channels."""
    return cv2.cvtColor(gray(img), cv2.COLOR_GRAY2RGB)


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """``ImageFilter.GaussianBlur(radius=sigma)``: separable Gaussian of standard deviation ``sigma`` (±3σ
    support), edges repeated as PIL does."""
    return cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)


def solarize(img: np.ndarray, threshold: int = 128) -> np.ndarray:
    """``ImageOps.solarize``: invert every value at or above ``threshold``."""
    return cv2.LUT(img, np.where(_VALUES < threshold, _VALUES, 255 - _VALUES).astype(np.uint8))


def resized_crop(img: np.ndarray, box: Tuple[int, int, int, int], size: int, flip: bool = False) -> np.ndarray:
    """Crop ``box = (top, left, height, width)``, mirror it if ``flip``, and resize it to ``size × size`` with
    antialiased bicubic interpolation (torch's uint8 kernel, which follows PIL's ``Image.resize(..., BICUBIC)``).

    The mirror is folded into the copy of the crop (OpenCV's flip; numpy's reversed copy is ten times
    slower); the resampling grid is symmetric, so this equals mirroring the resized crop.
    """
    top, left, height, width = box
    crop = img[top:top + height, left:left + width]
    crop = torch.from_numpy(cv2.flip(crop, 1) if flip else crop.copy())
    # [1, H, W, 3] seen as NCHW is channels-last in every stride, so torch keeps that layout for the output
    # (an HWC array without a copy) and runs its vectorised uint8 kernel
    out = F.interpolate(crop[None].permute(0, 3, 1, 2), size=(size, size), mode='bicubic', antialias=True)
    return out[0].permute(1, 2, 0).numpy()


def hflip(img: np.ndarray) -> np.ndarray:
    """Mirror left-right."""
    return cv2.flip(img, 1)


class Normalize:
    """``ToTensor`` then ``Normalize`` in one pass per channel: float32 ``[3, H, W]`` of ``(x/255 − mean)/std``."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.scale = [1.0 / (255.0 * s) for s in std]
        self.shift = [-m / s for m, s in zip(mean, std)]

    def __call__(self, img: np.ndarray) -> torch.Tensor:
        out = np.empty((3, ) + img.shape[:2], dtype=np.float32)
        for channel, plane in enumerate(cv2.split(img)):
            cv2.addWeighted(plane, self.scale[channel], plane, 0.0, self.shift[channel], dst=out[channel],
                            dtype=cv2.CV_32F)
        return torch.from_numpy(out)
