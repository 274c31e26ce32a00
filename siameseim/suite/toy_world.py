"""A procedural world of shapes: the demo's data, where a class is a shape, never a colour.

Every object is one of :data:`SHAPES`, drawn as a polygon with a random colour, size, position and tilt,
optionally striped, on a textured background, optionally partly hidden by an occluder. Colour and texture are
drawn independently of the class, so telling classes apart takes features of outline and structure — what
self-supervised pretraining has to learn and random features do not give for free.

One :class:`ToyWorld` renders every format the demo needs from the same shapes: object-centric images
(``photo``, the harder ``adversarial``, the stylised ``rendition`` and the line-drawing ``sketch`` styles) and
multi-object scenes with instance polygons and semantic label maps. Rendering is numpy + PIL on small images.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Polygon = List[float]

SHAPES: Tuple[str, ...] = ('circle', 'triangle', 'square', 'star', 'cross', 'l_shape', 't_shape', 'arrow',
                           'crescent', 'bar')
STYLES: Tuple[str, ...] = ('photo', 'adversarial', 'rendition', 'sketch')
# Objects lean at most this far (radians) either way from upright. Under any rotation the demo's tiny ViT does not
# learn the shapes from a few thousand images even with labels (15 % top-1 against 57 % with this tilt, 10 classes,
# 3,000 train images; docs/benchmarks.md).
MAX_TILT = 0.25
# Photo style: share of striped objects, of occluded objects, and the contrast of the background texture.
STRIPED_SHARE, OCCLUDED_SHARE, BACKGROUND_CONTRAST = 0.1, 0.1, 0.3


def _outline(shape: str) -> np.ndarray:
    """``[K, 2]`` vertices of ``shape`` in the unit box ``[-1, 1]²`` (centred, not rotated)."""
    if shape == 'circle':
        angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        return np.stack([np.cos(angles), np.sin(angles)], 1)
    if shape == 'triangle':
        angles = np.pi / 2 + np.array([0, 2, 4]) * np.pi / 3
        return np.stack([np.cos(angles), -np.sin(angles)], 1)
    if shape == 'square':
        return np.array([[-0.8, -0.8], [0.8, -0.8], [0.8, 0.8], [-0.8, 0.8]])
    if shape == 'star':
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.4)
        return np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)
    if shape == 'cross':
        a, b = 0.3, 1.0
        return np.array([[-a, -b], [a, -b], [a, -a], [b, -a], [b, a], [a, a], [a, b], [-a, b], [-a, a], [-b, a],
                         [-b, -a], [-a, -a]])
    if shape == 'l_shape':
        return np.array([[-0.8, -1], [-0.2, -1], [-0.2, 0.4], [0.8, 0.4], [0.8, 1], [-0.8, 1]])
    if shape == 't_shape':
        return np.array([[-1, -1], [1, -1], [1, -0.4], [0.3, -0.4], [0.3, 1], [-0.3, 1], [-0.3, -0.4], [-1, -0.4]])
    if shape == 'arrow':
        return np.array([[-1, -0.25], [0.1, -0.25], [0.1, -0.7], [1, 0], [0.1, 0.7], [0.1, 0.25], [-1, 0.25]])
    if shape == 'crescent':
        outer = np.linspace(-np.pi / 2, np.pi / 2, 13)
        inner = outer[::-1]
        return np.concatenate([np.stack([np.cos(outer), np.sin(outer)], 1),
                               np.stack([0.35 * np.cos(inner), np.sin(inner)], 1)])
    if shape == 'bar':
        return np.array([[-1, -0.28], [1, -0.28], [1, 0.28], [-1, 0.28]])
    raise ValueError(f'unknown shape {shape!r}: choose from {", ".join(SHAPES)}')


_OUTLINES = {shape: _outline(shape) for shape in SHAPES}


@dataclass
class Placed:
    """An object in an image: its class index and outline polygon ``[x0, y0, x1, y1, ...]`` in pixels."""
    label: int
    polygon: Polygon

    def bbox(self) -> List[float]:
        """COCO ``[x, y, w, h]`` of the polygon."""
        xs, ys = self.polygon[0::2], self.polygon[1::2]
        return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]

    def area(self) -> float:
        """Shoelace area of the polygon."""
        xs, ys = np.asarray(self.polygon[0::2]), np.asarray(self.polygon[1::2])
        return float(abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))) / 2)


def place(label: int, centre: Tuple[float, float], radius: float, angle: float, size: Tuple[int, int]) -> Placed:
    """Shape ``label`` rotated by ``angle`` (radians), scaled to ``radius`` pixels, at ``centre``; vertices
    rounded to 0.1 px and clipped to the image."""
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = _OUTLINES[SHAPES[label]] @ rotation.T * radius + np.asarray(centre)
    points[:, 0] = np.clip(points[:, 0], 0, size[1] - 1)
    points[:, 1] = np.clip(points[:, 1], 0, size[0] - 1)
    return Placed(label, [round(float(v), 1) for v in points.reshape(-1)])


def random_color(rng: np.random.Generator, low: int = 0, high: int = 256) -> Tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(low, high, 3))


def texture(rng: np.random.Generator, size: Tuple[int, int], kinds: int = 3, contrast: float = 1.0) -> np.ndarray:
    """A random background ``[H, W, 3]`` uint8: a smooth colour field, a grating or a checkerboard (the first
    ``kinds`` of these), with noise; ``contrast`` scales its deviations from the mean colour."""
    height, width = size
    kind = int(rng.integers(kinds))
    if kind == 0:
        coarse = rng.integers(0, 256, (3, 3, 3)).astype(np.uint8)
        field = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BILINEAR), np.float64)
    else:
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
        period = rng.uniform(4, 16)
        angle = rng.uniform(0, np.pi)
        phase = (xs * np.cos(angle) + ys * np.sin(angle)) / period
        if kind == 1:
            weight = 0.5 + 0.5 * np.sin(2 * np.pi * phase)
        else:
            other = (-xs * np.sin(angle) + ys * np.cos(angle)) / period
            weight = ((np.floor(phase) + np.floor(other)) % 2).astype(np.float64)
        first, second = np.asarray(random_color(rng), float), np.asarray(random_color(rng), float)
        field = weight[..., None] * first + (1 - weight[..., None]) * second
    field = field.mean((0, 1)) + contrast * (field - field.mean((0, 1))) + rng.normal(0, 6, field.shape)
    return np.clip(field, 0, 255).astype(np.uint8)


def _fill(canvas: Image.Image, polygon: Polygon, rng: np.random.Generator, striped: bool) -> None:
    """Fill ``polygon`` on ``canvas`` with a flat random colour or two-colour stripes."""
    if not striped:
        ImageDraw.Draw(canvas).polygon(polygon, fill=random_color(rng))
        return
    mask = Image.new('L', canvas.size, 0)
    ImageDraw.Draw(mask).polygon(polygon, fill=255)
    stripes = Image.fromarray(texture_stripes(rng, (canvas.size[1], canvas.size[0])))
    canvas.paste(stripes, (0, 0), mask)


def texture_stripes(rng: np.random.Generator, size: Tuple[int, int]) -> np.ndarray:
    """Two-colour stripes ``[H, W, 3]`` at a random angle and period."""
    height, width = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    angle, period = rng.uniform(0, np.pi), rng.uniform(3, 8)
    on = (np.floor((xs * np.cos(angle) + ys * np.sin(angle)) / period) % 2).astype(bool)
    return np.where(on[..., None], np.asarray(random_color(rng), np.uint8), np.asarray(random_color(rng), np.uint8))


def _occlude(canvas: Image.Image, rng: np.random.Generator, centre: Tuple[float, float], radius: float,
             strength: float) -> None:
    """Hide part of the object at ``centre`` behind a textured rectangle covering up to ``strength`` of it."""
    side = radius * 2 * strength
    x0 = centre[0] + rng.choice([-1, 1]) * rng.uniform(0.2, 1.0) * radius - side / 2
    y0 = centre[1] + rng.choice([-1, 1]) * rng.uniform(0.2, 1.0) * radius - side / 2
    box = [int(round(x0)), int(round(y0)), int(round(x0 + side)), int(round(y0 + side))]
    mask = Image.new('L', canvas.size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    canvas.paste(Image.fromarray(texture(rng, (canvas.size[1], canvas.size[0]))), (0, 0), mask)


class ToyWorld:
    """Renders images of :data:`SHAPES` objects; each call takes the ``rng`` so every set is reproducible.

    ``max_tilt`` (radians) bounds every object's angle from upright; ``striped_share``, ``occluded_share`` and
    ``background_contrast`` set the photo style's nuisances. :meth:`plain` is the easiest world (upright, no
    stripes or occluders, faint backgrounds), where the tiny pretrainings are measured to learn.
    """

    def __init__(self, num_classes: int = len(SHAPES), max_tilt: float = MAX_TILT,
                 striped_share: float = STRIPED_SHARE, occluded_share: float = OCCLUDED_SHARE,
                 background_contrast: float = BACKGROUND_CONTRAST) -> None:
        if not 2 <= num_classes <= len(SHAPES):
            raise ValueError(f'num_classes must be 2..{len(SHAPES)}, got {num_classes}')
        self.num_classes = num_classes
        self.max_tilt = max_tilt
        self.striped_share, self.occluded_share = striped_share, occluded_share
        self.background_contrast = background_contrast

    @classmethod
    def plain(cls, num_classes: int = len(SHAPES)) -> 'ToyWorld':
        """Upright objects, no stripes, no occluders, background contrast 0.2."""
        return cls(num_classes, max_tilt=0.0, striped_share=0.0, occluded_share=0.0, background_contrast=0.2)

    def tilt(self, rng: np.random.Generator) -> float:
        """An object's angle from upright, uniform in ``[-max_tilt, max_tilt]``."""
        return float(rng.uniform(-self.max_tilt, self.max_tilt))

    def object_image(self, label: int, size: int, rng: np.random.Generator, style: str = 'photo') -> Image.Image:
        """One ``size``² image of shape ``label`` in ``style`` (one of :data:`STYLES`).

        ``photo``: low-contrast textured background, random colour (or stripes), random size/position/tilt,
        sometimes occluded. ``adversarial``: smaller, lower-contrast objects among distractor shapes and a
        larger occluder. ``rendition``: flat cartoon colours with a thick dark outline. ``sketch``: a black
        hand-drawn-like outline on white paper.
        """
        if style not in STYLES:
            raise ValueError(f'unknown style {style!r}: choose from {", ".join(STYLES)}')
        radius = size * rng.uniform(0.22, 0.38) if style != 'adversarial' else size * rng.uniform(0.14, 0.22)
        margin = radius * 0.9
        centre = (rng.uniform(margin, size - margin), rng.uniform(margin, size - margin))
        obj = place(label, centre, radius, self.tilt(rng), (size, size))
        if style == 'sketch':
            canvas = Image.new('RGB', (size, size), tuple(int(v) for v in rng.integers(225, 256, 3)))
            jitter = (np.asarray(obj.polygon) + rng.normal(0, 0.6, len(obj.polygon))).tolist()
            ImageDraw.Draw(canvas).line(jitter + jitter[:2], fill=tuple(int(v) for v in rng.integers(0, 60, 3)),
                                        width=int(rng.integers(1, 3)))
            return canvas
        if style == 'rendition':
            canvas = Image.new('RGB', (size, size), random_color(rng, 120, 256))
            draw = ImageDraw.Draw(canvas)
            draw.polygon(obj.polygon, fill=random_color(rng))
            draw.line(obj.polygon + obj.polygon[:2], fill=random_color(rng, 0, 70), width=2)
            return canvas.filter(ImageFilter.SMOOTH)
        if style == 'adversarial':
            canvas = Image.fromarray(texture(rng, (size, size)))
        else:
            canvas = Image.fromarray(texture(rng, (size, size), kinds=1, contrast=self.background_contrast))
        if style == 'adversarial':
            for _ in range(2):
                other = place(int(rng.integers(self.num_classes)), (rng.uniform(0, size), rng.uniform(0, size)),
                              radius * 0.6, self.tilt(rng), (size, size))
                _fill(canvas, other.polygon, rng, striped=False)
        _fill(canvas, obj.polygon, rng, striped=bool(rng.random() < self.striped_share))
        if style == 'adversarial':
            _occlude(canvas, rng, centre, radius, strength=0.8)
        elif rng.random() < self.occluded_share:
            _occlude(canvas, rng, centre, radius, strength=0.5)
        return canvas

    def scene(self, size: Tuple[int, int], rng: np.random.Generator, labels: Sequence[int],
              background: Optional[np.ndarray] = None) -> Tuple[Image.Image, List[Placed]]:
        """An ``(H, W)`` scene with one object per entry of ``labels``, one per cell of a 2×3 grid (no overlap,
        so each polygon is exactly its object's visible region), on ``background`` (default: a random
        texture); the image and the placed objects."""
        height, width = size
        rows, cols = 2, 3
        if len(labels) > rows * cols:
            raise ValueError(f'a scene holds at most {rows * cols} objects, got {len(labels)}')
        canvas = Image.fromarray(texture(rng, size) if background is None else background)
        cell_h, cell_w = height / rows, width / cols
        placed = []
        for label, cell in zip(labels, rng.permutation(rows * cols)):
            radius = min(cell_h, cell_w) * rng.uniform(0.3, 0.45)
            slack_x, slack_y = cell_w / 2 - radius, cell_h / 2 - radius
            centre = ((cell % cols + 0.5) * cell_w + rng.uniform(-slack_x, slack_x),
                      (cell // cols + 0.5) * cell_h + rng.uniform(-slack_y, slack_y))
            obj = place(int(label), centre, radius, self.tilt(rng), size)
            _fill(canvas, obj.polygon, rng, striped=bool(rng.random() < 0.4))
            placed.append(obj)
        return canvas, placed
