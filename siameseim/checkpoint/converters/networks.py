"""Picking one network out of a checkpoint that holds several (``teacher.*`` / ``student.*``, ``encoder.*`` /
``target_encoder.*`` after :func:`~siameseim.checkpoint.formats.unwrap`)."""
from typing import Dict, Sequence

import torch

from ..errors import CheckpointError
from ..formats import drop_reason


def select_network(state_dict: Dict[str, torch.Tensor], dropped: Dict[str, str], preferred: Sequence[str],
                   strip: Sequence[str] = ('backbone.', )) -> Dict[str, torch.Tensor]:
    """The keys of the first prefix of ``preferred`` present (prefix and then one of ``strip`` removed); all
    other keys go to ``dropped``. A state dict without any of the prefixes passes through with ``strip``
    applied."""
    prefix = next((name for name in preferred if any(key.startswith(name) for key in state_dict)), '')
    selected = {}
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            dropped[key] = drop_reason(key)
            continue
        name = key[len(prefix):]
        inner = next((start for start in strip if name.startswith(start)), None)
        if inner is None and any(key.startswith(prefix + start) for start in strip for key in state_dict):
            dropped[key] = drop_reason(name)  # a head next to the backbone of the same network
            continue
        selected[name[len(inner):] if inner else name] = value
    if not selected:
        raise CheckpointError(f'checkpoint has no {" / ".join(preferred)}* keys')
    return selected


__all__ = ['select_network']
