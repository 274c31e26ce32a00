"""Reading checkpoint files: safe unpickling on the CPU, one-line errors for bad files, no non-finite weights.

Every load path of the suite (backbone ``pretrained=``, ``load_from``, ``--resume``, ``tools/test.py``, the
converter) reads through :func:`read_checkpoint`, which unpickles weights-only with the suite's one allow-list
(:func:`siameseim.compat.weights_only_safe_globals`).
"""
import os
import re
import warnings
import zipfile
from typing import Any, Mapping, Optional, Union

import torch

from ..compat import warn_if_unsafe_load_forced, weights_only_safe_globals
from ..finite import describe_keys, non_finite_keys
from .errors import CheckpointError, UntrustedPickleWarning


def _read_safetensors(path: str) -> dict:
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError:
        raise CheckpointError(f'{path}: reading .safetensors files needs the safetensors package: '
                              f'pip install safetensors') from None
    try:
        return load_file(path, device='cpu')
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f'{path} is not a readable safetensors file ({_first_line(err)}): '
                              f're-download or re-save it') from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _load_error(path: str, err: Exception) -> CheckpointError:
    """Translate a ``torch.load`` failure into one line with the fix."""
    message = str(err)
    with open(path, 'rb') as file:
        head = file.read(4)
    is_zip, is_pickle = head == b'PK\x03\x04', head[:1] == b'\x80'
    # What the file tried to load or call, in each wording of torch's weights-only unpickler (2.4 to 2.14).
    refused = (re.search(r'Unsupported global: GLOBAL (\S+)', message)
               or re.search(r'unsupported GLOBAL (\S+) whose module', message)
               or re.search(r'call reduce for unrecognized function (.+?)(?: which belongs to|$)', message, re.M)
               or re.search(r"allowlisted via `add_safe_globals`,? but got <class '([^']+)'>", message))
    # torch.save writes a zip archive or a binary pickle: a text file starting with 'c' only looks like a GLOBAL
    if refused and (is_zip or is_pickle):
        return CheckpointError(
            f'{path} holds arbitrary pickled objects ({refused.group(1)}), which safe loading refuses: pass '
            f'--trust-pickle (CLI) / trust_pickle=True only for files you trust, since unpickling can run code')
    if isinstance(err, EOFError) or 'unexpected EOF' in message or (is_zip and not zipfile.is_zipfile(path)):
        return CheckpointError(f'{path} is truncated or corrupted ({_first_line(err)}): '
                               f're-download or re-save the checkpoint')
    if is_zip or (is_pickle and 'magic number' not in message and 'Unsupported operand' not in message):
        problem = f'is an unreadable PyTorch checkpoint ({_first_line(err)})'
    elif is_pickle:
        problem = 'is a plain pickle, not a PyTorch checkpoint'
    else:
        problem = 'is not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle)'
    return CheckpointError(f'{path} {problem}: give a file written by torch.save (.pth/.pt/.bin) '
                           f'or a .safetensors file')


def check_finite(checkpoint: Any, source: Optional[str] = None) -> None:
    """Raise :class:`CheckpointError` naming the first tensors that hold NaN or inf (a diverged run's weights)."""
    bad = non_finite_keys(checkpoint)
    if bad:
        raise CheckpointError(f'{source or "checkpoint"} holds non-finite values (NaN or inf) in {len(bad)} '
                              f'tensors ({describe_keys(bad)}): the run that wrote it diverged; use an earlier '
                              f'checkpoint of that run')


def read_checkpoint(path: Union[str, os.PathLike], *, trust_pickle: bool = False) -> dict:
    """Read a checkpoint file on the CPU, refusing pickled code unless ``trust_pickle``.

    ``torch.load(weights_only=True)`` runs with the allow-list :func:`~siameseim.compat.weights_only_safe_globals`
    (the one the mmengine loaders use too); anything else pickled in
    the file raises :class:`CheckpointError` asking for ``trust_pickle=True`` (then ``weights_only=False`` with
    an :class:`UntrustedPickleWarning`). ``.safetensors`` files are read with the safetensors package. Tensors
    holding NaN or inf are refused (:func:`check_finite`): no load path starts from a diverged run's weights.
    """
    warn_if_unsafe_load_forced()
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CheckpointError(f'{path} is a folder, not a checkpoint file: give the path of the file')
    if not os.path.isfile(path):
        raise CheckpointError(f'{path}: no such file: check the path')
    if os.path.getsize(path) == 0:
        raise CheckpointError(f'{path} is empty: re-download or re-save the checkpoint')
    if path.endswith('.safetensors'):
        checkpoint = _read_safetensors(path)
        check_finite(checkpoint, path)
        return checkpoint
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message='Detected pickle protocol')
            if trust_pickle:
                warnings.warn(f'{path}: unpickling with weights_only=False can run code stored in the file; '
                              f'do this only for files you trust', UntrustedPickleWarning, stacklevel=2)
                checkpoint = torch.load(path, map_location='cpu', weights_only=False)
            else:
                # the context removes its entries on exit: pass only those not registered globally (compat)
                registered = torch.serialization.get_safe_globals()
                allowed = [entry for entry in weights_only_safe_globals() if entry not in registered]
                with torch.serialization.safe_globals(allowed):
                    checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # torch.load raises many types for bad files; each becomes one line
        raise _load_error(path, err) from None
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f'{path} holds a {type(checkpoint).__name__}, not a checkpoint: expected a '
                              f'state dict or a dict wrapping one (model / state_dict / module)')
    check_finite(checkpoint, path)
    return dict(checkpoint)


__all__ = ['read_checkpoint', 'check_finite']
