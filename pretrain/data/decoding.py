"""Encoded pretraining images: the file's bytes with the header parsed, decoded on demand at full or reduced size.

Knowing the size before decoding lets a transform draw its crops first and then decode only as much as they
need: a JPEG can be decoded at 1/2, 1/4 or 1/8 of its size by libjpeg's DCT scaling (Pillow's
``Image.draft``), which skips most of the inverse DCT; decoded pixel ``x`` then covers original pixels
``[r·x, r·(x + 1))``. Full-size JPEGs are decoded by OpenCV straight into a numpy array (the same
libjpeg-turbo output as Pillow's, without the copy out of Pillow's four-bytes-per-pixel layout); other
formats, and JPEGs without an end-of-image marker (truncated files, which OpenCV would pad with grey instead
of failing), go through Pillow. Every decoding failure is an :class:`UnreadableImageError`.
"""
import io
from typing import Tuple

import cv2
import numpy as np
from PIL import Image

# What Pillow raises for unreadable, truncated or malicious files.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
# Reductions libjpeg's DCT scaling offers through Image.draft, largest first.
JPEG_REDUCTIONS = (8, 4, 2)
_JPEG_END = b'\xff\xd9'
_CV2_FLAGS = cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION   # as Pillow: no EXIF rotation


class UnreadableImageError(OSError):
    """An image file that cannot be opened or decoded (the dataset skips it)."""


class EncodedImage:
    """An image file's bytes and its parsed header (``format``, ``size``); nothing is decoded yet.

    Raises :class:`UnreadableImageError` if the header cannot be parsed.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        try:
            self._header = Image.open(io.BytesIO(data))
        except DECODE_ERRORS as err:
            raise UnreadableImageError(f'{type(err).__name__}: {err}') from err

    @classmethod
    def from_file(cls, path: str) -> 'EncodedImage':
        """Read ``path`` into memory and parse its header."""
        try:
            with open(path, 'rb') as f:
                data = f.read()
        except OSError as err:
            raise UnreadableImageError(f'{type(err).__name__}: {err}') from err
        return cls(data)

    @property
    def format(self) -> str:
        return self._header.format

    @property
    def size(self) -> Tuple[int, int]:
        """``(width, height)`` from the header."""
        return self._header.size

    @property
    def width(self) -> int:
        return self._header.width

    @property
    def height(self) -> int:
        return self._header.height

    def decode(self) -> np.ndarray:
        """Full-size RGB ``uint8 [H, W, 3]`` array."""
        if self.format == 'JPEG' and self.data.rstrip(b'\x00').endswith(_JPEG_END):
            pixels = cv2.imdecode(np.frombuffer(self.data, np.uint8), _CV2_FLAGS)
            if pixels is None or pixels.shape[:2] != (self.height, self.width):
                raise UnreadableImageError('OpenCV could not decode the JPEG data')
            return pixels
        return np.asarray(self.decode_reduced(1)[0])

    def decode_reduced(self, reduction: int) -> Tuple[Image.Image, int]:
        """Decode with Pillow, ``reduction`` (1, 2, 4 or 8) times smaller if the file is a JPEG.

        Returns the RGB image and the reduction actually applied (1 for other formats); pixel ``x`` of the
        result covers original pixels ``[r·x, r·(x + 1))``. The header is parsed anew, so this can be
        called more than once.
        """
        if reduction not in (1, ) + JPEG_REDUCTIONS:
            raise ValueError(f'reduction must be one of 1, 2, 4, 8, got {reduction}')
        applied = 1
        try:
            image = Image.open(io.BytesIO(self.data))
            width, height = image.size
            if reduction > 1 and image.format == 'JPEG' and min(width, height) >= reduction:
                drafted = image.draft('RGB', (width // reduction, height // reduction))
                if drafted is not None:
                    applied = round(width / drafted[1][2])
            if image.mode == 'RGB':
                image.load()
                return image, applied
            return image.convert('RGB'), applied
        except DECODE_ERRORS as err:
            raise UnreadableImageError(f'{type(err).__name__}: {err}') from err
