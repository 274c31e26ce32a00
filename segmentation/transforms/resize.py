"""Multi-scale test resize for ViTs with a fixed token grid (BEiT's ``SETR_Resize`` rule).

mmseg 1.x test-time augmentation resizes the original image by ``scale_factor r`` with no lower bound, so
ratios below 1 give images smaller than the 512 crop; a backbone whose position tables are built for the 32×32
grid then fails (docs/protocols.md §3.6). BEiT's rule scales the short side to ``max(r · short, min_short)`` and
the long side by the aspect ratio, with no cap on the long side, so every sliding window is a full crop.
"""
from typing import Sequence, Tuple

import mmcv
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


def min_short_side_scale(height: int, width: int, short_side: float, min_short: int) -> Tuple[int, int]:
    """``(new_h, new_w)`` with short side ``max(short_side, min_short)`` and the aspect ratio kept."""
    new_short = max(short_side, min_short)
    scale = new_short / min(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


@TRANSFORMS.register_module()
class MinShortSideResize(BaseTransform):
    """Resize so that the short side is ``max(ratio · min(scale), min_short)``, keeping the aspect ratio.

    With ``scale=(2048, 512)``, ``min_short=512`` this is BEiT's ``SETR_Resize`` for the ADE20k multi-scale
    test: ratio 0.5 and 1.0 both give a 512 short side, ratio 1.75 gives 896. Images are resized bilinearly;
    a ``gt_seg_map`` already loaded is resized with nearest neighbours. Sets ``img_shape``, ``scale``,
    ``scale_factor`` (w, h) and ``keep_ratio`` like mmcv's ``Resize``.

    Args:
        scale: ``(long, short)`` base scale of the single-scale test; only its short side is used.
        ratio: multiplier of the base short side (one entry of the TTA ratio list).
        min_short: smallest short side allowed, the crop size of the sliding window.
    """

    def __init__(self, scale: Sequence[int] = (2048, 512), ratio: float = 1.0, min_short: int = 512) -> None:
        if len(scale) != 2 or min(scale) <= 0:
            raise ValueError(f'scale must be (long, short) with positive sides, got {scale!r}')
        if ratio <= 0 or min_short <= 0:
            raise ValueError(f'ratio ({ratio}) and min_short ({min_short}) must be positive')
        self.scale = tuple(scale)
        self.ratio = ratio
        self.min_short = min_short

    def transform(self, results: dict) -> dict:
        img = results['img']
        height, width = img.shape[:2]
        new_h, new_w = min_short_side_scale(height, width, self.ratio * min(self.scale), self.min_short)
        results['img'] = mmcv.imresize(img, (new_w, new_h), interpolation='bilinear')
        if results.get('gt_seg_map') is not None:
            results['gt_seg_map'] = mmcv.imresize(results['gt_seg_map'], (new_w, new_h), interpolation='nearest')
        results['img_shape'] = (new_h, new_w)
        results['scale'] = (new_w, new_h)
        results['scale_factor'] = (new_w / width, new_h / height)
        results['keep_ratio'] = True
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(scale={self.scale}, ratio={self.ratio}, min_short={self.min_short})'
