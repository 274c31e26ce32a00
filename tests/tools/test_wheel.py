"""The built wheel works outside the checkout: ``pip wheel .``, a fresh virtual environment with the same stack
(``--system-site-packages``), ``pip install`` of the wheel, then from an unrelated directory the demo, ``bench``,
``siameseim-train`` on a packaged config named by its checkout path, ``siameseim-test`` and ``siameseim-verify``.

The wheel must own no top-level import name but ``siameseim`` (``detection``, ``segmentation`` and
``robustness`` are other distributions' names) and must carry every file of the packages (configs and data
files included), so nothing is read from the checkout. The machine running the tests usually has the project
installed editable too: every module must resolve inside the new environment.
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, List, Set

import pytest

from checkout import REPO_ROOT

pytestmark = pytest.mark.slow

TASK_FOLDERS = ('pretrain', 'detection', 'segmentation', 'robustness')
PACKAGES = ('siameseim', *(f'siameseim.{folder}' for folder in TASK_FOLDERS))
# What the wheel is built from: the build files and the package folders, copied, so that no build leftover of
# the checkout (a stale build/lib would end up in the wheel) or local environment takes part.
BUILD_FILES = ('setup.py', 'setup.cfg', 'pyproject.toml', 'README.md', 'LICENSE')
NOT_SOURCE = shutil.ignore_patterns('__pycache__', '*.pyc')


def run(command: List[str], cwd: Path, env: Dict[str, str], timeout: int = 600, stdout_only: bool = False) -> str:
    """Run ``command``; its output (stdout and stderr, or stdout only), or a failure showing the output's end."""
    result = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f'{command} exited {result.returncode}:\n{output[-4000:]}'
    return result.stdout if stdout_only else output


def plain_environment() -> Dict[str, str]:
    """This environment without PYTHONPATH (the checkout must not be importable) and without coverage
    measurement (CI's subprocess measurement would record the installed copies as separate files)."""
    dropped = ('PYTHONPATH', 'VIRTUAL_ENV', 'COVERAGE_PROCESS_START', 'COVERAGE_PROCESS_CONFIG')
    return {key: value for key, value in os.environ.items() if key not in dropped}


def package_files() -> Set[str]:
    """The checkout's package files as the wheel must hold them (task folders under ``siameseim/``)."""
    files = set()
    for folder, prefix in [('siameseim', 'siameseim')] + [(name, f'siameseim/{name}') for name in TASK_FOLDERS]:
        for root, dirs, names in os.walk(osp.join(REPO_ROOT, folder)):
            dirs[:] = [name for name in dirs if name != '__pycache__']
            for name in names:
                if not name.endswith('.pyc'):
                    relative = osp.relpath(osp.join(root, name), osp.join(REPO_ROOT, folder))
                    files.add(f'{prefix}/{relative}'.replace(os.sep, '/'))
    return files


@pytest.fixture(scope='module')
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the checkout's sources (as ``pip wheel .`` does in a clean clone)."""
    root = tmp_path_factory.mktemp('wheel')
    source = root / 'source'
    for folder in ('siameseim', *TASK_FOLDERS):
        shutil.copytree(osp.join(REPO_ROOT, folder), source / folder, ignore=NOT_SOURCE)
    for name in BUILD_FILES:
        shutil.copy(osp.join(REPO_ROOT, name), source / name)
    run([sys.executable, '-m', 'pip', 'wheel', '-q', str(source), '--no-deps', '--no-build-isolation', '-w',
         root / 'dist'], cwd=root, env=plain_environment())
    (built,) = (root / 'dist').glob('siameseim_suite-*.whl')
    return built


@pytest.fixture(scope='module')
def venv(wheel, tmp_path_factory) -> Dict[str, object]:
    """A fresh virtual environment with the system's packages and the wheel installed; its python, bin folder,
    site-packages and an environment for running in it (no PYTHONPATH, no coverage of the copies)."""
    root = tmp_path_factory.mktemp('venv')
    env = plain_environment()
    run([sys.executable, '-m', 'venv', '--system-site-packages', '--without-pip', root / 'env'], cwd=root, env=env)
    bin_dir = root / 'env' / 'bin'
    python = bin_dir / 'python'
    # The system's pip, run by the environment's python, installs into the environment.
    run([python, '-m', 'pip', 'install', '-q', '--no-deps', '--no-index', '--ignore-installed', wheel], cwd=root,
        env=env)
    site = run([python, '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))'], cwd=root, env=env,
               stdout_only=True)
    env['PATH'] = os.pathsep.join([str(bin_dir), env.get('PATH', '')])
    work = root / 'elsewhere'  # an unrelated working directory: no checkout files beside it
    work.mkdir()
    return dict(python=python, bin=bin_dir, site=Path(site.strip()), env=env, work=work)


def test_the_wheel_owns_only_the_siameseim_name_and_holds_every_package_file(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (top_level,) = [name for name in names if name.endswith('.dist-info/top_level.txt')]
        assert archive.read(top_level).decode().split() == ['siameseim']
        entry_points = archive.read(top_level.replace('top_level.txt', 'entry_points.txt')).decode()
    contents = {name for name in names if '.dist-info/' not in name}
    assert {name.split('/')[0] for name in contents} == {'siameseim'}
    assert not {name for name in names if name.split('/')[0] in TASK_FOLDERS}
    assert contents == package_files()
    for script in ('siameseim', 'siameseim-train', 'siameseim-test', 'siameseim-convert', 'siameseim-verify',
                   'siameseim-eval-robustness', 'siameseim-make-imagenet-c'):
        assert f'{script} = ' in entry_points


def test_every_package_resolves_inside_the_environment(venv):
    code = ('import importlib, json, sys\n'
            'print(json.dumps({name: importlib.import_module(name).__file__ for name in sys.argv[1:]}))')
    files = json.loads(run([venv['python'], '-c', code, *PACKAGES], cwd=venv['work'], env=venv['env'],
                           stdout_only=True))
    for name, path in files.items():
        assert Path(path).is_relative_to(venv['site'] / 'siameseim'), f'{name} imports from {path}'
    assert not [name for name in TASK_FOLDERS if (venv['site'] / name).exists()]
    summary = run([venv['bin'] / 'siameseim-verify', '--check', 'siameseim'], cwd=venv['work'], env=venv['env'])
    assert str(venv['site'] / 'siameseim') in summary


def test_demo_bench_train_and_test_run_from_the_wheel(venv):
    work, env, python = venv['work'], venv['env'], venv['python']
    # The demo, shortened: tiny SiameseIM and MAE pretraining (a few iterations) and k-NN on the toy world.
    run([python, '-m', 'siameseim', 'demo', '--quick', '--pretrain-iters', '2', '--batch-size', '8', '--tasks', 'knn',
         '--out', 'demo'], cwd=work, env=env)
    demo = json.loads((work / 'demo' / 'results.json').read_text())
    assert set(demo['checkpoints']) == {'siameseim-tiny', 'mae-tiny', 'random-init'}
    assert all(entry['tasks']['knn']['status'] == 'done' for entry in demo['checkpoints'].values())
    assert (work / 'demo' / 'report.html').is_file()

    # bench on the demo's data: a randomly initialised ViT-T on k-NN.
    run([python, '-m', 'siameseim', 'bench', '--checkpoint', 'vit-t=random', '--arch', 'vit-t', '--tasks', 'knn',
         '--data-root', 'demo/data', '--out', 'bench'], cwd=work, env=env)
    bench = json.loads((work / 'bench' / 'results.json').read_text())
    assert bench['checkpoints']['vit-t']['tasks']['knn']['status'] == 'done'

    # A packaged config named by its checkout path, one epoch of fine-tuning on the toy ImageNet, then its test.
    images = work / 'demo' / 'data' / 'imagenet'
    config = 'robustness/configs/vit-tiny_ft-4e_toy.py'
    assert not (work / config).exists()
    run([venv['bin'] / 'siameseim-train', config, '--work-dir', 'ft', '--cfg-options',
         f'train_dataloader.dataset.root={images}/train', f'val_dataloader.dataset.root={images}/val',
         'train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1'],
        cwd=work, env=env)
    assert (work / 'ft' / 'epoch_1.pth').is_file()
    tested = run([venv['bin'] / 'siameseim-test', config, 'ft/epoch_1.pth', '--work-dir', 'ft_test', '--cfg-options',
                  f'test_dataloader.dataset.root={images}/val'], cwd=work, env=env)
    assert 'test finished: imagenet/top1=' in tested
