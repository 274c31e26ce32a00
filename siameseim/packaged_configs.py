"""Configs shipped inside the installed packages, found by their checkout path from any working directory.

The configs live in each task folder (``detection/configs/...``), which installs as a package of the
``siameseim`` namespace. ``resolve_config('detection/configs/x.py')`` returns the file itself when the path
exists (a checkout, a user's own config), else the same file inside the installed ``siameseim.detection``, so a
wheel install runs ``siameseim-train detection/configs/x.py`` anywhere.
"""
import importlib.util
import os.path as osp
from typing import Optional

from .errors import InputError

# The task folders of the checkout and the packages they install as.
TASK_FOLDERS = ('pretrain', 'detection', 'segmentation', 'robustness')


def package_folder(folder: str) -> Optional[str]:
    """Where the task folder ``folder`` is installed (None if that package is not installed)."""
    spec = importlib.util.find_spec(f'siameseim.{folder}')
    return spec.submodule_search_locations[0] if spec and spec.submodule_search_locations else None


def resolve_config(path: str) -> str:
    """``path`` if it is a file, else the packaged config it names; :class:`InputError` if neither exists."""
    if osp.isfile(path):
        return path
    parts = osp.normpath(path).split(osp.sep)
    if len(parts) > 2 and parts[0] in TASK_FOLDERS and parts[1] == 'configs':
        root = package_folder(parts[0])
        packaged = osp.join(root, *parts[1:]) if root else None
        if packaged and osp.isfile(packaged):
            return packaged
    raise InputError(f'config file {path} does not exist: pass a path like '
                     f'pretrain/configs/siameseim_vit-tiny-p16_1xb8-20e_toy.py (a packaged config) or your own file')
