"""``tools/<name>.py`` as modules for the tests, without putting ``tools/`` on ``sys.path``.

The scripts are loaded under ``siameseim_tools_<name>``, the name the suite loads them under too
(``siameseim.suite.tasks``), so a test and the suite share one module and ``tools/test.py`` never shadows the
standard library's ``test`` package.
"""
import importlib.util
import os.path as osp
import sys
from types import ModuleType

from checkout import REPO_ROOT

TOOLS = osp.join(REPO_ROOT, 'tools')


def load_tool(name: str) -> ModuleType:
    """The module of ``tools/<name>.py``, loaded once per process."""
    module_name = f'siameseim_tools_{name}'
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, osp.join(TOOLS, f'{name}.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[module_name] = module
    return sys.modules[module_name]
