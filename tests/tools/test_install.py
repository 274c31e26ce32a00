"""siameseim.cli.verify_install (tools/verify_install.py, siameseim-verify): every check passes here, and each
failure is one line naming the problem and fix."""
import builtins
import importlib.util
import os.path as osp
import subprocess
import sys

import pytest

from siameseim.cli import verify_install

from checkout import REPO_ROOT

INSTALL = 'run bash tools/install.sh'
REBUILD = 'rebuild with bash tools/install.sh --rebuild-mmcv'


def _run_verify(*args: str, prelude: str = '') -> subprocess.CompletedProcess:
    """Run the checkout's tools/verify_install.py in a fresh interpreter (``prelude`` runs first)."""
    code = (f'{prelude}\nimport runpy, sys\nsys.argv = ["verify_install.py", *sys.argv[1:]]\n'
            f'runpy.run_path({osp.join(REPO_ROOT, "tools", "verify_install.py")!r}, run_name="__main__")')
    return subprocess.run([sys.executable, '-c', code, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture
def block_import(monkeypatch):
    """Make importing a module (or anything below it) fail with the given error, as a missing install would."""

    def block(module: str, error: Exception) -> None:
        real_import = builtins.__import__

        def guarded_import(name, *args, **kwargs):
            if name == module or name.startswith(module + '.'):
                raise error
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, '__import__', guarded_import)

    return block


def test_every_check_passes_on_this_machine():
    summary = verify_install.run_checks(list(verify_install.CHECKS))
    assert len(summary) == len(verify_install.CHECKS)
    assert f'mmcv {verify_install.MMCV_VERSION} (compiled ops)' in summary
    assert any(line.startswith('torch ') for line in summary)


def test_command_line_prints_a_version_summary():
    result = _run_verify()
    assert result.returncode == 0, result.stderr
    summary = result.stdout.strip()
    for name in ('Python 3.', 'torch ', 'mmcv 2.1.0', 'mmdet 3.', 'mmseg 1.', 'timm ', 'lvis ', 'siameseim '):
        assert name in summary


@pytest.mark.parametrize('check, module, failed', [
    ('torch', 'torchvision', 'torch/torchvision failed to import'),
    ('mmcv', 'mmcv', 'mmcv failed to import'),
    ('mmdet', 'mmdet', 'mmdet.models failed to import'),
    ('mmdet', 'mmengine', 'mmdet.models failed to import'),
    ('mmseg', 'mmseg', 'mmseg.models failed to import'),
    ('timm', 'timm', 'timm failed to import'),
    ('eval-tools', 'lvis', 'lvis/pycocotools failed to import'),
    ('eval-tools', 'pycocotools', 'lvis/pycocotools failed to import'),
    ('siameseim', 'siameseim', 'siameseim failed to import'),
])
def test_a_missing_package_fails_its_check_with_one_line(block_import, capsys, check, module, failed):
    block_import(module, ModuleNotFoundError(f"No module named '{module}'", name=module))
    with pytest.raises(verify_install.InstallCheckError) as error:
        verify_install.CHECKS[check]()
    message = str(error.value)
    assert message.startswith(failed)
    assert f"ModuleNotFoundError: No module named '{module}'" in message
    assert INSTALL in message and '\n' not in message

    assert verify_install.main(['--check', check]) == 1
    stderr = capsys.readouterr().err
    assert stderr == f'verify_install: {message}\n'


def test_a_task_package_missing_beside_the_core_fails_the_siameseim_check(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *args: None if name == 'siameseim.detection' else find_spec(name, *args))
    with pytest.raises(verify_install.InstallCheckError, match=r'^siameseim.detection is not installed beside'):
        verify_install.check_siameseim()


def test_the_siameseim_check_names_the_installed_task_packages():
    summary = verify_install.check_siameseim()
    assert all(name.rpartition('.')[2] in summary for name in verify_install.TASK_PACKAGES)


def test_the_checkout_tool_checks_mmcv_without_importing_the_project():
    """install.sh runs the mmcv check before the project is installed."""
    result = _run_verify('--check', 'mmcv', prelude="import sys; sys.modules['siameseim'] = None")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('Python 3.') and 'mmcv 2.1.0 (compiled ops)' in result.stdout


def test_mmcv_without_compiled_ops_asks_for_a_rebuild():
    """A real mmcv whose ``mmcv._ext`` cannot be found, as after a build without MMCV_WITH_OPS or isolation."""
    result = _run_verify('--check', 'mmcv', prelude="import sys; sys.modules['mmcv._ext'] = None")
    assert result.returncode == 1
    assert result.stderr == f'verify_install: mmcv was installed without compiled ops: {REBUILD}\n'


def test_mmcv_ops_built_for_another_torch_ask_for_a_rebuild(block_import):
    block_import('mmcv.ops', ImportError('mmcv/_ext.cpython-311-x86_64-linux-gnu.so: undefined symbol: _ZN3c10'))
    with pytest.raises(verify_install.InstallCheckError, match='mmcv compiled ops do not load with torch') as error:
        verify_install.check_mmcv()
    assert str(error.value).endswith(REBUILD)
    assert 'undefined symbol' in str(error.value)


def test_mmcv_of_another_version_is_refused(monkeypatch):
    import mmcv

    monkeypatch.setattr(mmcv, '__version__', '2.2.0')
    with pytest.raises(verify_install.InstallCheckError, match='mmcv 2.2.0 is installed but the suite needs 2.1.0'):
        verify_install.check_mmcv()


def test_mmcv_ops_giving_wrong_results_are_refused(monkeypatch):
    import mmcv.ops
    import torch

    monkeypatch.setattr(mmcv.ops, 'nms', lambda boxes, scores, iou_threshold: (boxes, torch.tensor([0, 1, 2])))
    with pytest.raises(verify_install.InstallCheckError, match='mmcv compiled ops give wrong results'):
        verify_install.check_mmcv()


def test_an_unknown_check_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        verify_install.main(['--check', 'mmcv-full'])
    assert exit_info.value.code == 2
    assert "invalid choice: 'mmcv-full'" in capsys.readouterr().err
