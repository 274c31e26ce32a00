"""The installed packages import one way: core <- tasks <- suite <- entry points, with no cycle.

Every module of the installed distribution is parsed (not imported) with ``ast``; each ``import`` and
``from ... import`` (module level or inside a function: a lazy import is still a dependency) becomes an edge to
the deepest module of this distribution it names. Layers:

- core: ``siameseim`` and its modules, except the ones below;
- tasks: ``siameseim.pretrain``, ``siameseim.detection``, ``siameseim.segmentation``, ``siameseim.robustness``;
- suite: ``siameseim.suite`` (the only one that knows every task);
- entry: ``siameseim.__main__``.

mmengine configs (``configs/`` folders) are data read by ``Config.fromfile``, not modules, and are skipped.
"""
import ast
import importlib.util
import os
import os.path as osp
from typing import Dict, List, Set

import pytest

TASKS = ('siameseim.pretrain', 'siameseim.detection', 'siameseim.segmentation', 'siameseim.robustness')
SUITE = 'siameseim.suite'
ENTRY = 'siameseim.__main__'


def _package_files(package: str) -> Dict[str, str]:
    """Module name -> file of every module below the installed ``package`` (configs excluded)."""
    root = importlib.util.find_spec(package).submodule_search_locations[0]
    modules = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [name for name in dirs if name not in ('configs', '__pycache__')
                   and osp.isfile(osp.join(folder, name, '__init__.py'))]
        for name in files:
            if not name.endswith('.py'):
                continue
            parts = [package, *osp.relpath(osp.join(folder, name[:-3]), root).split(os.sep)]
            if parts[-1] == '__init__':
                parts.pop()
            modules['.'.join(parts)] = osp.join(folder, name)
    return modules


def installed_modules() -> Dict[str, str]:
    modules = {}
    for package in ('siameseim', *TASKS):
        for name, path in _package_files(package).items():
            modules.setdefault(name, path)
    return modules


def _deepest_known(name: str, known: Set[str]) -> str:
    while name not in known and '.' in name:
        name = name.rsplit('.', 1)[0]
    return name if name in known else ''


def imports_of(module: str, path: str, known: Set[str]) -> Set[str]:
    """The modules of this distribution that ``module`` (at ``path``) imports."""
    is_package = osp.basename(path) == '__init__.py'
    package = module if is_package else module.rpartition('.')[0]
    edges = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit('.', node.level - 1)[0] if node.level > 1 else package
                source = f'{base}.{node.module}' if node.module else base
            else:
                source = node.module
            # ``from pkg import name``: the submodule pkg.name where there is one, else pkg itself
            targets = [f'{source}.{alias.name}' if f'{source}.{alias.name}' in known else source
                       for alias in node.names]
        else:
            continue
        edges.update(target for target in map(lambda name: _deepest_known(name, known), targets)
                     if target and target != module)
    return edges


def layer(module: str) -> str:
    if module == ENTRY:
        return 'entry'
    if module == SUITE or module.startswith(SUITE + '.'):
        return 'suite'
    for task in TASKS:
        if module == task or module.startswith(task + '.'):
            return task
    return 'core'


ALLOWED = {'core': {'core'}, 'suite': {'core', 'suite', *TASKS}, 'entry': {'core', 'suite', *TASKS, 'entry'}}


def layering_violations(graph: Dict[str, Set[str]]) -> List[str]:
    bad = []
    for module, targets in sorted(graph.items()):
        source = layer(module)
        allowed = ALLOWED.get(source, {'core', source})
        bad += [f'{module} ({source}) imports {target} ({layer(target)})'
                for target in sorted(targets) if layer(target) not in allowed]
    return bad


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope='module')
def graph() -> Dict[str, Set[str]]:
    modules = installed_modules()
    return {name: imports_of(name, path, set(modules)) for name, path in modules.items()}


def test_the_walk_sees_every_layer(graph):
    layers = {layer(module) for module in graph}
    assert layers == {'core', 'suite', 'entry', *TASKS}
    assert 'siameseim.models.vit' in graph and 'siameseim.pretrain.models.siameseim' in graph


def test_no_import_goes_against_the_layers(graph):
    assert layering_violations(graph) == []


def test_no_import_cycle(graph):
    assert cycles(graph) == []


def test_the_checks_catch_what_they_forbid():
    graph = {'siameseim.optim': {'siameseim.suite.runner'}, 'siameseim.detection.toy': {'siameseim.robustness.toy'},
             'siameseim.pretrain.models': {'siameseim.models.vit'}, 'siameseim.models.vit': {'siameseim.checkpoint'},
             'siameseim.checkpoint': {'siameseim.models.vit'}}
    assert layering_violations(graph) == [
        'siameseim.detection.toy (siameseim.detection) imports siameseim.robustness.toy (siameseim.robustness)',
        'siameseim.optim (core) imports siameseim.suite.runner (suite)']
    assert cycles(graph) == [['siameseim.checkpoint', 'siameseim.models.vit']]


def test_relative_and_lazy_imports_are_edges(tmp_path):
    path = tmp_path / '__init__.py'
    path.write_text('from . import b\nfrom ..c import d\n\ndef f():\n    import siameseim.a.e\n')
    known = {'siameseim.a', 'siameseim.a.b', 'siameseim.c', 'siameseim.a.e'}
    assert imports_of('siameseim.a', str(path), known) == {'siameseim.a.b', 'siameseim.c', 'siameseim.a.e'}
