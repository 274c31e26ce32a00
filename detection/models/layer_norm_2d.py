"""Channels-first LayerNorm (detectron2 ``LayerNorm``, mmdet ViTDet project ``LN2d``)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.registry import MODELS


@MODELS.register_module('LN2d')
class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of each pixel of an ``[N, C, H, W]`` map.

    The norm of the ViTDet neck and heads (docs/protocols.md §1.2–1.3); use it as
    ``norm_cfg=dict(type='LN2d', eps=1e-6)`` — mmcv's ``build_norm_layer`` otherwise sets eps to 1e-5.
    """

    _abbr_ = 'ln'

    def __init__(self, num_channels: int, eps: float = 1e-6, elementwise_affine: bool = True) -> None:
        super().__init__(num_channels, eps=eps, elementwise_affine=elementwise_affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
