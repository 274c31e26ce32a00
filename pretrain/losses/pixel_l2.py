"""MAE's pixel reconstruction loss, as the ``target='pixel'`` setting of the SiameseIM meta-architecture uses it.

The target is the target view cut into patches (``(p, q, c)`` order, :func:`siameseim.pretrain.models.mae.patchify`),
each patch normalised by its own mean and unbiased variance (:func:`normalize_patches`, MAE's
``norm_pix_loss``, used by its released models); the loss is the mean squared error over the patches handed in
(the model selects them, e.g. those masked in the online view). With the same number of patches per sample this
equals MAE's ``(per-patch MSE · mask).sum() / mask.sum()``.
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
    """Mean squared error between predicted and target patches (both ``[B, N, p·p·3]``), in fp32."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of ``pred`` against ``target`` (already normalised by the model); the target is detached."""
        if pred.shape != target.shape:
            raise ValueError(f'pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}')
        with torch.autocast(device_type=pred.device.type, enabled=False):
            return (pred.float() - target.detach().float()).square().mean()
