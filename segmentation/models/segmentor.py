"""UperNet segmentor for a ViT whose token grid is fixed by its position tables.

mmseg's ``EncoderDecoder.slide_inference`` feeds windows smaller than the crop when the image is smaller than
the crop along an axis (aspect ratio > 4 after the (2048, 512) resize); the shared backbone's relative position
bias is built for the 512 crop's 32×32 grid and rejects them. :class:`ViTEncoderDecoder` pads such windows
to the crop and crops the padding from the logits (docs/protocols.md §3.6), and checks at build time that the
sliding crop matches the backbone's ``img_size``.
"""
from typing import List, Tuple

import torch.nn.functional as F
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from torch import Tensor


def slide_windows(length: int, crop: int, stride: int) -> List[Tuple[int, int]]:
    """``(start, end)`` of the windows along one axis: one if ``length <= crop``, else
    ``ceil((length - crop) / stride) + 1``, the last shifted to end flush with the border."""
    if crop <= 0 or stride <= 0:
        raise ValueError(f'crop ({crop}) and stride ({stride}) must be positive')
    count = max(length - crop + stride - 1, 0) // stride + 1
    windows = []
    for index in range(count):
        end = min(index * stride + crop, length)
        windows.append((max(end - crop, 0), end))
    return windows


@MODELS.register_module()
class ViTEncoderDecoder(EncoderDecoder):
    """``EncoderDecoder`` whose sliding-window inference always feeds full ``crop_size`` windows.

    Logits of overlapping windows are summed and divided by the per-pixel window count, as in mmseg. Takes
    the arguments of mmseg's ``EncoderDecoder``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        test_cfg = self.test_cfg or {}
        backbone_size = getattr(self.backbone, 'img_size', None)
        if test_cfg.get('mode') == 'slide' and backbone_size is not None:
            crop = tuple(test_cfg['crop_size'])
            if crop != tuple(backbone_size):
                raise ValueError(f'test_cfg.crop_size {crop} differs from the backbone img_size '
                                 f'{tuple(backbone_size)}: its relative position bias only fits that grid, '
                                 f'so set both to the same size (512 for ADE20k)')

    def slide_inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """Average the logits of ``crop_size`` windows moved by ``stride``; short windows are zero-padded
        (normalised value 0, the mean colour) to the crop and the padding is cut from their logits."""
        h_stride, w_stride = self.test_cfg.stride
        h_crop, w_crop = self.test_cfg.crop_size
        batch_size, _, height, width = inputs.shape
        logits = inputs.new_zeros((batch_size, self.out_channels, height, width))
        counts = inputs.new_zeros((batch_size, 1, height, width))
        for y1, y2 in slide_windows(height, h_crop, h_stride):
            for x1, x2 in slide_windows(width, w_crop, w_stride):
                window = inputs[:, :, y1:y2, x1:x2]
                pad_h, pad_w = h_crop - (y2 - y1), w_crop - (x2 - x1)
                if pad_h or pad_w:
                    window = F.pad(window, (0, pad_w, 0, pad_h))
                metas = [dict(meta, img_shape=window.shape[2:]) for meta in batch_img_metas]
                window_logits = self.encode_decode(window, metas)
                logits[:, :, y1:y2, x1:x2] += window_logits[:, :, :y2 - y1, :x2 - x1]
                counts[:, :, y1:y2, x1:x2] += 1
        return logits / counts
