"""Hugging Face ``transformers`` model folders and files: ``config.json`` next to ``model.safetensors`` /
``pytorch_model.bin`` (or their sharded ``*.index.json`` form), as ``save_pretrained`` writes them.

:func:`read_hf_folder` returns ``{'state_dict': tensors, 'hf_config': config}``; the importer detects the format
from ``hf_config['model_type']``. A weights file named as ``save_pretrained`` names it gets the ``config.json``
beside it (:func:`hf_config_beside`).
"""
import json
import os
from typing import Any, Callable, Dict, List, Mapping, Optional

import torch

from .errors import CheckpointError

CONFIG_FILE = 'config.json'
WEIGHT_FILES = ('model.safetensors', 'pytorch_model.bin')


def _read_json(path: str) -> Dict[str, Any]:
    try:
        with open(path) as file:
            data = json.load(file)
    except (OSError, ValueError) as err:
        raise CheckpointError(f'{path} is not readable JSON ({err}): re-download or re-save the model') from None
    if not isinstance(data, dict):
        raise CheckpointError(f'{path} holds a JSON {type(data).__name__}, not an object: re-save the model')
    return data


def _weight_files(folder: str) -> List[str]:
    """The weight files of a model folder: a single file, or the shards its index lists."""
    for name in WEIGHT_FILES:
        if os.path.isfile(os.path.join(folder, name)):
            return [os.path.join(folder, name)]
        index = os.path.join(folder, name + '.index.json')
        if os.path.isfile(index):
            shards = sorted(set(_read_json(index).get('weight_map', {}).values()))
            if not shards:
                raise CheckpointError(f'{index} lists no shards (weight_map is empty): re-save the model')
            return [os.path.join(folder, shard) for shard in shards]
    raise CheckpointError(f'{folder} has {CONFIG_FILE} but no weights ({" or ".join(WEIGHT_FILES)}, or a sharded '
                          f'index): save the model with save_pretrained')


def hf_config_beside(path: str) -> Optional[Dict[str, Any]]:
    """``config.json`` (with a ``model_type``) next to a weights file named as ``save_pretrained`` names it."""
    name = os.path.basename(path)
    if not (name in WEIGHT_FILES or name.startswith(('model-', 'pytorch_model-'))):
        return None
    config_path = os.path.join(os.path.dirname(os.path.abspath(path)), CONFIG_FILE)
    if not os.path.isfile(config_path):
        return None
    config = _read_json(config_path)
    return config if 'model_type' in config else None


def read_hf_folder(folder: str, read_file: Callable[[str], Mapping[str, Any]]) -> Dict[str, Any]:
    """Tensors of every weight file of ``folder`` (read with ``read_file``) and its ``config.json``."""
    config_path = os.path.join(folder, CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise CheckpointError(f'{folder} is a folder, not a checkpoint file, and no Hugging Face model folder (no '
                              f'{CONFIG_FILE}): give the path of the file, or a folder written by save_pretrained '
                              f'({CONFIG_FILE} with {" / ".join(WEIGHT_FILES)})')
    config = _read_json(config_path)
    if 'model_type' not in config:
        raise CheckpointError(f'{config_path} has no model_type: not a transformers model config; give the '
                              f'weights file itself')
    tensors: Dict[str, torch.Tensor] = {}
    for path in _weight_files(folder):
        if not os.path.isfile(path):
            raise CheckpointError(f'{path}: shard listed in the index is missing: re-download the model')
        loaded = read_file(path)
        tensors.update({key: value for key, value in loaded.items() if isinstance(value, torch.Tensor)})
    return {'state_dict': tensors, 'hf_config': config}


__all__ = ['read_hf_folder', 'hf_config_beside']
