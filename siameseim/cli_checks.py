"""Checks of command-line inputs shared by the tools, so each bad value ends as one ``error:`` line up front:
positive counts, output folders and files, ``--cfg-options`` (syntax, unknown sections, key typos, value
types) and the training schedule."""
import argparse
import difflib
import os
import os.path as osp
from typing import Any, List, Mapping, Optional

from mmengine.config import Config, DictAction

from .errors import InputError

_NEW = object()  # a --cfg-options key that the config does not have yet


def positive_int(value: str) -> int:
    """argparse ``type``: an integer >= 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{value!r} is not an integer') from None
    if number < 1:
        raise argparse.ArgumentTypeError(f'{value} is not a positive integer (give 1 or more)')
    return number


def writable_folder(path: str, option: str) -> str:
    """Create folder ``path`` (given as ``option``) if needed; raise :class:`InputError` when it is a file or
    cannot be created or written."""
    if osp.exists(path) and not osp.isdir(path):
        raise InputError(f'{option} {path} is a file, not a folder: give a folder path')
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise InputError(f'{option} {path} cannot be created ({err.strerror}): give a writable folder') from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f'{option} {path} is not writable: give a writable folder')
    return path


def writable_file(path: str, option: str) -> str:
    """Check that file ``path`` (given as ``option``) can be written, creating its folder if needed."""
    if osp.isdir(path):
        raise InputError(f'{option} {path} is a folder: give a file path, e.g. {osp.join(path, "metrics.json")}')
    folder = osp.dirname(osp.abspath(path))
    if osp.exists(folder) and not osp.isdir(folder):
        raise InputError(f'{option} {path}: {folder} is a file, not a folder: give a path in a folder')
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise InputError(f'{option} {path}: its folder cannot be created ({err.strerror})') from None
    if not os.access(folder, os.W_OK | os.X_OK) or (osp.exists(path) and not os.access(path, os.W_OK)):
        raise InputError(f'{option} {path} is not writable: give a writable path')
    return path


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` that reports an option without ``=`` as a usage error instead of a traceback."""

    def __call__(self, parser, namespace, values, option_string=None):
        for value in values or ():
            if '=' not in value:
                parser.error(f'{option_string} {value!r} has no "=": write key=value, e.g. train_cfg.max_epochs=10')
        super().__call__(parser, namespace, values, option_string)


def _suggest(name: str, choices: List[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.75)
    return f' (did you mean {close[0]}?)' if close else ''


def _child(node: Any, part: str, path: str) -> Any:
    """``node[part]`` for a section (dict) or a list index; :data:`_NEW` for a key the section lacks."""
    if isinstance(node, (list, tuple)):
        if part.isdigit() and int(part) < len(node):
            return node[int(part)]
        raise InputError(f'--cfg-options {path}: {part} is not an index of a list of {len(node)}')
    if isinstance(node, Mapping):
        return node[part] if part in node else _NEW
    raise InputError(f'--cfg-options {path}: the config value before {part} is a {type(node).__name__}, '
                     f'not a section')


def check_cfg_options(cfg: Config, options: Optional[Mapping[str, Any]]) -> None:
    """Raise :class:`InputError` for a ``--cfg-options`` entry that would silently do nothing or fail late.

    Every section on the way must exist (a typo there would create a new, unused section); a new last key
    that is one letter away from an existing one is taken for a typo; a number or a bool in the config may
    only be replaced by a number or a bool (``lr=abc`` would fail deep inside the optimizer).
    """
    root = cfg.to_dict()
    for key, value in (options or {}).items():
        node: Any = root
        parts = key.split('.')
        for depth, part in enumerate(parts):
            parent, node = node, _child(node, part, key)
            if node is _NEW:
                names = [str(name) for name in parent]
                if depth < len(parts) - 1:
                    raise InputError(f'--cfg-options {key}: the config has no section '
                                     f'{".".join(parts[:depth + 1])}{_suggest(part, names)}')
                hint = _suggest(part, names)
                if hint:
                    raise InputError(f'--cfg-options {key}: the config has no {part}{hint}')
        if node is _NEW or node is None or value is None:
            continue
        if isinstance(node, bool) and not isinstance(value, bool):
            raise InputError(f'--cfg-options {key}={value}: expects True or False')
        if isinstance(node, (int, float)) and not isinstance(node, bool) and not isinstance(value, (int, float)):
            raise InputError(f'--cfg-options {key}={value}: expects a number (the config has {node})')


def check_schedule(cfg: Config) -> None:
    """Raise :class:`InputError` unless the training length, validation interval and batch sizes are >= 1."""
    entries = [(f'train_cfg.{name}', cfg.get('train_cfg', {}).get(name))
               for name in ('max_epochs', 'max_iters', 'val_interval')]
    entries += [(f'{loader}.batch_size', (cfg.get(loader) or {}).get('batch_size'))
                for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    for name, value in entries:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InputError(f'{name}={value} must be a positive integer: fix the config or --cfg-options')
