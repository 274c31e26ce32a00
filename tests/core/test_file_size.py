"""No module of the installed packages grows past ~400 lines without saying why: a longer file usually holds
several concerns and is split instead. A module that is long for a reason states it in its docstring with the
phrase ``over 400 lines because``.
"""
import ast
import importlib.util
import os
import os.path as osp
from typing import List

PACKAGES = ('siameseim', 'siameseim.pretrain', 'siameseim.detection', 'siameseim.segmentation',
            'siameseim.robustness')
MAX_LINES = 400
REASON = 'over 400 lines because'


def module_files() -> List[str]:
    """Every module file below the installed packages; mmengine configs (data, not code) left out."""
    files = set()
    for package in PACKAGES:
        root = importlib.util.find_spec(package).submodule_search_locations[0]
        for folder, dirs, names in os.walk(root):
            dirs[:] = [name for name in dirs if name not in ('configs', '__pycache__')]
            files.update(osp.join(folder, name) for name in names if name.endswith('.py'))
    return sorted(files)


def test_modules_are_walked():
    assert any(path.endswith(osp.join('siameseim', 'models', 'vit.py')) for path in module_files())
    assert any(path.endswith(osp.join('pretrain', 'models', 'siameseim.py')) for path in module_files())


def test_no_long_module_without_a_stated_reason():
    too_long = []
    for path in module_files():
        with open(path, encoding='utf-8') as f:
            source = f.read()
        lines = source.count('\n')
        if lines > MAX_LINES and REASON not in (ast.get_docstring(ast.parse(source)) or ''):
            too_long.append(f'{path}: {lines} lines')
    assert not too_long, f'split these modules by concern, or say in the docstring why not ({REASON} ...): ' \
                         f'{too_long}'
