"""MoCo-v3's projection and prediction MLPs, applicable per token (the ablation's "MoCo-like" heads).

``Linear(bias=False) → norm → ReLU`` for every hidden layer, then ``Linear(bias=False) → norm without affine``
(SimCLR's last BN, as MoCo-v3 builds it): 3 layers for the projector, 2 for the predictor. The input may be
``[B, D]`` (one vector per image, MoCo-v3) or ``[B, N, D]`` (one per token): batch norm then pools its
statistics over batch × tokens (:class:`TokenBatchNorm`); ``norm='ln'`` uses LayerNorm instead. Linear layers
keep PyTorch's default initialisation, as in MoCo-v3 (its heads are built after the encoder's own init).
"""
import torch.nn as nn

from .token_batch_norm import TokenBatchNorm

NORMS = ('bn', 'ln')


def _norm(kind: str, dim: int, affine: bool) -> nn.Module:
    """Batch norm over batch × tokens (eps 1e-5) or LayerNorm (eps 1e-6, as every LN of the suite)."""
    if kind == 'bn':
        return TokenBatchNorm(dim, affine=affine)
    return nn.LayerNorm(dim, eps=1e-6, elementwise_affine=affine)


class MLPHead(nn.Sequential):
    """MoCo-v3 MLP of ``num_layers`` linear layers: ``in_dim → hidden_dim … → out_dim``.

    Args:
        num_layers: 3 for MoCo-v3's projector, 2 for its predictor.
        in_dim, hidden_dim, out_dim: widths (MoCo-v3 ViT: 768, 4096, 256).
        norm: ``'bn'`` (MoCo-v3) or ``'ln'``.
        last_norm: the affine-free norm after the last layer (MoCo-v3 keeps it in both MLPs of its ViTs).
    """

    def __init__(self, num_layers: int, in_dim: int, hidden_dim: int, out_dim: int, norm: str = 'bn',
                 last_norm: bool = True) -> None:
        if norm not in NORMS:
            raise ValueError(f"MLP head norm must be 'bn' or 'ln', got {norm!r}")
        if num_layers < 1:
            raise ValueError(f'an MLP head needs at least one layer, got {num_layers}')
        layers = []
        for index in range(num_layers):
            last = index == num_layers - 1
            layers.append(nn.Linear(in_dim if index == 0 else hidden_dim, out_dim if last else hidden_dim,
                                    bias=False))
            if not last:
                layers += [_norm(norm, hidden_dim, affine=True), nn.ReLU(inplace=True)]
            elif last_norm:
                layers.append(_norm(norm, out_dim, affine=False))
        super().__init__(*layers)
