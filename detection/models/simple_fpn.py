"""ViTDet simple feature pyramid: P2–P6 from the single stride-16 map of a plain ViT (docs/protocols.md §1.2)."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule
from mmdet.registry import MODELS


@MODELS.register_module()
class SimpleFPN(BaseModule):
    """Rescale the last ViT map by 4, 2, 1 and 0.5, project each to ``out_channels``, add extra levels.

    P2: ConvT 2×2/2 → norm → GELU → ConvT 2×2/2 (C → C/2 → C/4); P3: ConvT 2×2/2 (C → C/2); P4: identity;
    P5: max-pool 2×2/2. Each level then gets a 1×1 and a 3×3 conv, both with norm, without bias or activation.
    Levels beyond the fourth are max-pool (kernel 1, stride 2) of the previous output (P6).

    Args:
        backbone_channel: channels of the ViT map (768 for ViT-B).
        in_channels: channels of the four rescaled maps; defaults to ``[C/4, C/2, C, C]``.
        out_channels: channels of every pyramid level.
        num_outs: number of levels returned (5: P2–P6).
        norm_cfg: norm of the upsampling branch and of the convs; ``LN2d`` with eps 1e-6 in ViTDet.
    """

    def __init__(self,
                 backbone_channel: int,
                 in_channels: Optional[Sequence[int]] = None,
                 out_channels: int = 256,
                 num_outs: int = 5,
                 norm_cfg: dict = dict(type='LN2d', eps=1e-6),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        expected = [backbone_channel // 4, backbone_channel // 2, backbone_channel, backbone_channel]
        in_channels = list(in_channels) if in_channels is not None else expected
        if in_channels != expected:
            raise ValueError(f'SimpleFPN in_channels={in_channels} do not follow from backbone_channel='
                             f'{backbone_channel}: use {expected} (or leave in_channels unset)')
        if num_outs < 4:
            raise ValueError(f'SimpleFPN num_outs={num_outs} is below the 4 rescaled levels: use 4 or more')
        self.num_outs = num_outs
        half, quarter = backbone_channel // 2, backbone_channel // 4
        self.fpn1 = nn.Sequential(
            nn.ConvTranspose2d(backbone_channel, half, 2, 2),
            build_norm_layer(norm_cfg, half)[1], nn.GELU(),
            nn.ConvTranspose2d(half, quarter, 2, 2))
        self.fpn2 = nn.ConvTranspose2d(backbone_channel, half, 2, 2)
        self.fpn3 = nn.Identity()
        self.fpn4 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.lateral_convs = nn.ModuleList(
            ConvModule(channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None, inplace=False)
            for channels in in_channels)
        self.fpn_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=None, inplace=False)
            for _ in in_channels)

    def init_weights(self) -> None:
        """detectron2's ``c2_xavier_fill`` on the 1×1 and 3×3 convs; PyTorch defaults elsewhere."""
        super().init_weights()
        for module in (*self.lateral_convs, *self.fpn_convs):
            nn.init.kaiming_uniform_(module.conv.weight, a=1)
            if module.conv.bias is not None:
                nn.init.zeros_(module.conv.bias)

    def forward(self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]) -> Tuple[torch.Tensor, ...]:
        """``inputs``: the ViT map ``[N, C, H, W]`` or a sequence ending with it (``out_indices`` output)."""
        x = inputs if isinstance(inputs, torch.Tensor) else inputs[-1]
        scaled = [self.fpn1(x), self.fpn2(x), self.fpn3(x), self.fpn4(x)]
        outs: List[torch.Tensor] = [
            fpn_conv(lateral(feat)) for feat, lateral, fpn_conv in zip(scaled, self.lateral_convs, self.fpn_convs)
        ]
        while len(outs) < self.num_outs:
            outs.append(F.max_pool2d(outs[-1], kernel_size=1, stride=2))
        return tuple(outs)
