"""MAE's pixel reconstruction loss, as the ``target='pixel'`` setting of the SiameseIM meta-architecture uses it.

The target is the target view cut into patches (``(p, q, c)`` order, :func:`pretrain.models.mae.patchify`),
each patch normalised by its own mean and unbiased variance (``norm_pix_loss``, as MAE's released models); the
loss is the mean squared error over the patches handed in (the caller selects them, e.g. the masked ones).
"""
import torch
import torch.nn as nn

# MAE's variance epsilon of the normalised-pixel target.
PIXEL_NORM_EPS = 1e-6


def normalize_patches(patches: torch.Tensor) -> torch.Tensor:
    """``(x − mean) / √(var + 1e-6)`` per patch over its last dimension, unbiased variance, fp32."""
    patches = patches.float()
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)
    return (patches - mean) / (var + PIXEL_NORM_EPS)**0.5


class PixelL2Loss(nn.Module):
    """Mean squared error between predicted and (normalised) target patches, in fp32.

    Args:
        norm_pix: normalise each target patch (MAE's ``norm_pix_loss``); raw pixels otherwise.
    """

    def __init__(self, norm_pix: bool = True) -> None:
        super().__init__()
        self.norm_pix = norm_pix

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of ``pred`` against the patches ``target`` (both ``[B, N, p·p·3]``); the target is detached."""
        if pred.shape != target.shape:
            raise ValueError(f'pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}')
        with torch.autocast(device_type=pred.device.type, enabled=False):
            target = target.detach()
            target = normalize_patches(target) if self.norm_pix else target.float()
            return (pred.float() - target).square().mean()

    def extra_repr(self) -> str:
        return f'norm_pix={self.norm_pix}'
