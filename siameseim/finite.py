"""Find non-finite (NaN / ±inf) tensors in a checkpoint, named by their key path.

A diverged run writes weights or optimizer moments full of NaN; loading them "works" and every downstream number
is silently wrong. :func:`non_finite_keys` walks any nesting of dicts, lists and tuples (a state dict, a full
mmengine checkpoint with optimizer state) and returns where the bad tensors are, so loaders and the checkpoint
hook can refuse in one line that names them.
"""
from typing import Any, List, Sequence

import torch

__all__ = ['non_finite_keys', 'describe_keys']


def _is_finite(tensor: torch.Tensor) -> bool:
    """No NaN and no infinity in ``tensor``.

    The minimum and maximum propagate NaN and show ±inf; computing them allocates nothing, unlike
    ``isfinite(tensor).all()``, which is several times slower on the CPU. Dtypes without ``aminmax`` take the
    mask: complex as is, float8 upcast.
    """
    if tensor.numel() == 0:
        return True
    try:
        low, high = torch.aminmax(tensor.detach())
    except (RuntimeError, NotImplementedError):
        return bool(torch.isfinite(tensor if tensor.is_complex() else tensor.float()).all())
    return bool(torch.isfinite(low)) and bool(torch.isfinite(high))


def non_finite_keys(tree: Any, prefix: str = '') -> List[str]:
    """Dotted key paths (``state_dict.blocks.0.attn.qkv.weight``, ``optimizer.state.3.exp_avg``) of the floating
    or complex tensors in ``tree`` holding a NaN or an infinity, in traversal order.

    Integer and bool tensors cannot be non-finite; numpy arrays (mmengine's log history) are not weights and are
    not looked at.
    """
    found: List[str] = []
    stack = [(prefix, tree)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, torch.Tensor):
            if (node.is_floating_point() or node.is_complex()) and not _is_finite(node):
                found.append(path)
        elif isinstance(node, dict):
            stack.extend((f'{path}.{key}' if path else str(key), value) for key, value in reversed(node.items()))
        elif isinstance(node, (list, tuple)):
            stack.extend((f'{path}.{index}' if path else str(index), value)
                         for index, value in reversed(list(enumerate(node))))
    return found


def describe_keys(keys: Sequence[str], limit: int = 3) -> str:
    """``'a, b, c (and 5 more)'``: the first ``limit`` keys of a non-empty list, for a one-line message."""
    more = f' (and {len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more
