"""siameseim.checkpoint as a package: no import edge from the backbone to the importer, one weights-only
allow-list, and the backbone's ``pretrained=`` reaching the importer through the registry in every scope."""
import argparse
import ast
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.registry import DefaultScope

import siameseim
from siameseim import compat
from siameseim.checkpoint import read_checkpoint
from siameseim.models.vit import ViT

PACKAGE = Path(siameseim.__file__).parent


def imported_modules(path: Path, package: str) -> set:
    """Absolute names of every module ``path`` imports, nested imports included."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split('.')[:len(package.split('.')) - node.level + 1] if node.level else []
            module = '.'.join(base + ([node.module] if node.module else []))
            names.add(module)
            names.update(f'{module}.{alias.name}' for alias in node.names)
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def test_backbone_and_layers_import_nothing_of_the_checkpoint_package():
    for path in [*(PACKAGE / 'models').glob('*.py'), *(PACKAGE / 'layers').glob('*.py')]:
        package = module_name(path) if path.name == '__init__.py' else module_name(path).rpartition('.')[0]
        bad = {name for name in imported_modules(path, package) if name.startswith('siameseim.checkpoint')}
        assert not bad, f'{path.name} imports {bad}'


def test_checkpoint_package_imports_no_model_module_but_the_presets():
    for path in (PACKAGE / 'checkpoint').rglob('*.py'):
        package = module_name(path) if path.name == '__init__.py' else module_name(path).rpartition('.')[0]
        models = {name for name in imported_modules(path, package) if name.startswith('siameseim.models')}
        assert models <= {'siameseim.models.presets', 'siameseim.models.presets.ARCHS'}, f'{path.name}: {models}'


def test_reading_allows_exactly_the_one_allow_list(tmp_path):
    """What real checkpoints pickle besides tensors loads weights-only; the list is the one mmengine loads with."""
    allowed = compat.weights_only_safe_globals()
    assert argparse.Namespace in allowed and HistoryBuffer in allowed and np.ndarray in allowed
    buffer = HistoryBuffer()
    buffer.update(1.5)
    path = tmp_path / 'extras.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}, 'args': argparse.Namespace(model='vit_base'),
                'hub': buffer, 'metric': np.float64(0.5), 'table': np.arange(3)}, path)
    checkpoint = read_checkpoint(path)
    assert checkpoint['args'].model == 'vit_base' and checkpoint['hub'].current() == 1.5
    assert checkpoint['metric'] == 0.5 and checkpoint['table'].tolist() == [0, 1, 2]


@pytest.mark.parametrize('scope', ['siameseim', 'mmdet', 'mmseg', 'mmengine'])
def test_pretrained_loads_through_the_registry_in_every_default_scope(scope, tmp_path):
    pytest.importorskip(f'{scope}.registry' if scope.startswith('mm') and scope != 'mmengine' else 'mmengine')
    torch.manual_seed(0)
    source = ViT(arch=None, embed_dim=32, depth=2, num_heads=2, img_size=32)
    path = tmp_path / 'weights.pth'
    torch.save({'model': source.state_dict()}, path)
    with DefaultScope.overwrite_default_scope(scope):
        model = ViT(arch=None, embed_dim=32, depth=2, num_heads=2, img_size=32,
                    init_cfg=dict(type='Pretrained', checkpoint=str(path)))
        model.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
