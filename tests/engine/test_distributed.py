"""Multi-process runs on the CPU (gloo): ``tools/dist_train.sh`` through torchrun, ``tools/slurm_train.sh``
through a stand-in ``srun``, and the suite's torchrun launcher, all with two processes; and the distributed
session of ``tools/train.py`` / ``tools/test.py`` in this process."""
import contextlib
import functools
import os
import os.path as osp
import socket
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config
from PIL import Image

from siameseim.distributed import CPUDistributedDataParallel, distributed_session
from siameseim.suite.demo import QUICK_SIZES, demo_context, make_demo_data
from siameseim.benchmark import SuiteCheckpoint
from siameseim.suite.runner import run_suite
from siameseim.suite.tasks import build_tasks

from checkout import REPO_ROOT

ROOT = REPO_ROOT
TOY_PRETRAIN = osp.join(ROOT, 'pretrain', 'configs', 'siameseim_vit-tiny-p16_1xb8-20e_toy.py')

# Each rank saves its own model (unwrapped) and wrapper after training, so the test can compare the ranks.
PROBE = '''
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from siameseim.registry import HOOKS


@HOOKS.register_module(force=True)
class RankStateHook(Hook):
    def after_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        torch.save({'wrapper': type(runner.model).__name__, 'world_size': runner.world_size,
                    'iter': runner.iter, 'state': model.state_dict()},
                   f'{runner.work_dir}/rank{get_rank()}.pth')
'''

# A stand-in for slurm's srun: starts --ntasks copies of the command with the variables srun sets.
FAKE_SRUN = '''#!/usr/bin/env bash
ntasks=1
while [[ $# -gt 0 && $1 == -* ]]; do
    case "$1" in
        --ntasks=*) ntasks=${1#*=}; shift ;;
        -p) shift 2 ;;
        *) shift ;;
    esac
done
pids=()
for ((rank = 0; rank < ntasks; rank++)); do
    SLURM_PROCID=$rank SLURM_LOCALID=$rank SLURM_NTASKS=$ntasks SLURM_NODELIST=node001 "$@" &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
'''
FAKE_SCONTROL = '''#!/usr/bin/env bash
[[ "$1 $2 $3" == "show hostname node001" ]] && echo 127.0.0.1
'''
# Another Python first on PATH, without torch: the launch scripts must use $PYTHON, not whatever PATH finds.
WRONG_PYTHON = '''#!/usr/bin/env bash
echo "No module named torch (the python on PATH was used instead of \\$PYTHON)" >&2
exit 1
'''
PORT_IN_USE = ('EADDRINUSE', 'address already in use')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp('images')
    rng = np.random.default_rng(0)
    for index in range(16):
        Image.fromarray(rng.integers(0, 255, (72, 80, 3), dtype=np.uint8)).save(root / f'{index:02d}.png')
    return str(root)


@pytest.fixture(scope='module')
def stand_in_slurm(tmp_path_factory):
    """A folder to put first on PATH: the stand-in ``srun`` and ``scontrol``, and a ``python`` and ``python3``
    that are not the interpreter under test."""
    bin_dir = tmp_path_factory.mktemp('bin')
    for name, script in (('srun', FAKE_SRUN), ('scontrol', FAKE_SCONTROL), ('python', WRONG_PYTHON),
                         ('python3', WRONG_PYTHON)):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod((bin_dir / name).stat().st_mode | stat.S_IEXEC)
    return str(bin_dir)


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo_data'))
    make_demo_data(root, QUICK_SIZES, log=lambda line: None)
    return root


def write_probe_config(tmp_path):
    (tmp_path / 'ddp_probe.py').write_text(PROBE)
    config = tmp_path / 'config.py'
    config.write_text(textwrap.dedent(f'''\
        _base_ = [{TOY_PRETRAIN!r}]
        custom_imports = dict(imports=['pretrain', 'ddp_probe'], allow_failed_imports=False)
        custom_hooks = [dict(type='MomentumUpdateHook', base_momentum=0.99), dict(type='RankStateHook')]
        '''))
    return str(config)


def run(command, tmp_path, bin_dir, master_port=False, **env):
    """Run a launch script with ``bin_dir`` first on PATH and ``$PYTHON`` naming this interpreter.

    With ``master_port`` the rendezvous port is chosen here (srun cannot pick one itself); it is closed again
    before the script binds it, so a run that lost it to another process is retried on a fresh port.
    """
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]), OMP_NUM_THREADS='1',
                       PYTHON=sys.executable, PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}', **env)
    for _ in range(3):
        if master_port:
            environment['MASTER_PORT'] = str(free_port())
        result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)
        output = result.stdout + result.stderr
        if not (master_port and result.returncode and any(text in output for text in PORT_IN_USE)):
            break
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return output


def pretrain_options(image_folder, max_epochs):
    return ['--cfg-options', f'train_dataloader.dataset.root={image_folder}', 'train_dataloader.batch_size=4',
            f'train_cfg.max_epochs={max_epochs}', 'default_hooks.checkpoint.interval=1',
            'default_hooks.logger.interval=1']


def assert_ranks_agree(work_dir, iterations):
    """Both ranks ran DDP on the CPU and hold identical parameters, momentum target included."""
    states = [torch.load(osp.join(work_dir, f'rank{rank}.pth'), map_location='cpu', weights_only=True)
              for rank in (0, 1)]
    for state in states:
        assert state['wrapper'] == 'CPUDistributedDataParallel' and state['world_size'] == 2
        assert state['iter'] == iterations
    params = [{key: value for key, value in state['state'].items() if 'running_' not in key
               and 'num_batches_tracked' not in key} for state in states]
    assert any(key.startswith('target_encoder.blocks') for key in params[0])
    for key, value in params[0].items():
        assert torch.equal(value, params[1][key]), key


@pytest.mark.slow
def test_dist_train_runs_ddp_on_cpu_and_resumes(tmp_path, image_folder, stand_in_slurm):
    """One node: torchrun --standalone picks its own port, so nothing here can race for one."""
    config, work_dir = write_probe_config(tmp_path), str(tmp_path / 'work')
    command = ['bash', 'tools/dist_train.sh', config, '2', '--work-dir', work_dir]
    log = run(command + pretrain_options(image_folder, 2), tmp_path, stand_in_slurm)
    # 16 images over 2 processes × 4 per step: 2 steps per epoch.
    assert_ranks_agree(work_dir, iterations=4)
    assert 'BatchNorm statistics stay per process' in log
    initial = torch.load(osp.join(work_dir, 'epoch_1.pth'), map_location='cpu', weights_only=True)['state_dict']
    final = torch.load(osp.join(work_dir, 'rank0.pth'), map_location='cpu', weights_only=True)['state']
    assert not torch.equal(initial['encoder.blocks.0.attn.qkv.weight'], final['encoder.blocks.0.attn.qkv.weight'])

    run(command + pretrain_options(image_folder, 3), tmp_path, stand_in_slurm)
    assert_ranks_agree(work_dir, iterations=6)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('epoch_3.pth')


@pytest.mark.slow
def test_slurm_train_runs_with_srun(tmp_path, image_folder, stand_in_slurm):
    config, work_dir = write_probe_config(tmp_path), str(tmp_path / 'work')
    run(['bash', 'tools/slurm_train.sh', 'cpu', 'toy', config, '--work-dir', work_dir,
         *pretrain_options(image_folder, 1)], tmp_path, stand_in_slurm, master_port=True, GPUS='2',
        GPUS_PER_NODE='2', CPUS_PER_TASK='1')
    assert_ranks_agree(work_dir, iterations=2)


@pytest.mark.slow
@pytest.mark.parametrize('launcher, task, logged', [
    ('pytorch', 'ade20k', 'BatchNorm statistics stay per process'),
    ('slurm', 'coco', 'Fp16CompressionHook: DDP gradients are all-reduced in fp16'),
])
def test_suite_launchers_train_and_test_with_two_processes(tmp_path, demo_data, stand_in_slurm, monkeypatch,
                                                          launcher, task, logged):
    """ADE20k (SyncBN model) under torchrun, COCO (fp16-compressed DDP gradients) under srun: the suite
    trains, tests and collects the metrics that rank 0 wrote. srun needs a port chosen here: a run that lost
    it to another process is retried on a fresh one."""
    monkeypatch.setenv('PATH', f'{stand_in_slurm}{os.pathsep}{os.environ["PATH"]}')
    for attempt in range(3):
        monkeypatch.setenv('MASTER_PORT', str(free_port()))
        ctx = demo_context(str(tmp_path / f'suite{attempt}'), quick=True, log=lambda line: None, data_root=demo_data)
        ctx.launcher, ctx.gpus, ctx.partition = launcher, 2, 'cpu'
        results = run_suite([SuiteCheckpoint('random-init', None, 'demo')], build_tasks([task]), ctx)
        state = results['checkpoints']['random-init']['tasks'][task]
        logs = [osp.join(state['work_dir'], f'{script}.log') for script in ('train', 'test')]
        output = ''.join(open(path).read() for path in logs if osp.isfile(path))
        if state['status'] == 'done' or launcher != 'slurm' or not any(text in output for text in PORT_IN_USE):
            break
    assert state['status'] == 'done', state
    assert all(isinstance(value, float) for value in state['metrics'].values()) and state['metrics']
    with open(osp.join(state['work_dir'], 'train.log')) as f:
        log = f.read()
    assert 'GPU number: 2' in log and logged in log
    assert 'terminate called' not in output


def gloo_threads():
    """Names of this process's native threads that belong to gloo (its TCP loop and collective workers)."""
    names = []
    for task in os.listdir('/proc/self/task'):
        with contextlib.suppress(OSError), open(f'/proc/self/task/{task}/comm') as f:
            names.append(f.read().strip())
    return [name for name in names if 'gloo' in name]


@pytest.fixture
def one_process_cpu_world(tmp_path, monkeypatch):
    """No CUDA, and ``setup_cpu_distributed``'s process group started through a file: one rank, no port."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    monkeypatch.setattr(dist, 'init_process_group', functools.partial(
        dist.init_process_group, init_method=f'file://{tmp_path / "rendezvous"}', rank=0, world_size=1))
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


def train_a_step_in_a_cycle():
    """One DDP step whose wrapper is left in a reference cycle, as a finished mmengine Runner leaves it."""
    model = CPUDistributedDataParallel(torch.nn.Linear(2, 1))
    model(torch.ones(3, 2)).sum().backward()
    holder = {'model': model}
    holder['self'] = holder


@pytest.mark.skipif(not osp.isdir('/proc/self/task'), reason='counts threads through /proc')
def test_distributed_session_joins_gloo_threads_and_restores_local_rank(one_process_cpu_world):
    cfg = Config()
    with distributed_session(cfg, 'pytorch', local_rank=3) as cpu:
        assert cpu and dist.is_initialized() and os.environ['LOCAL_RANK'] == '3'
        assert cfg.model_wrapper_cfg.type == 'CPUDistributedDataParallel'
        train_a_step_in_a_cycle()
        assert gloo_threads()
    assert not dist.is_initialized()
    assert gloo_threads() == [], 'gloo threads still run after the session: they would be torn down at exit'
    assert 'LOCAL_RANK' not in os.environ


def test_distributed_session_tears_down_after_a_failure_and_keeps_a_launcher_local_rank(
        one_process_cpu_world, monkeypatch):
    monkeypatch.setenv('LOCAL_RANK', '1')
    with pytest.raises(RuntimeError, match='boom'), distributed_session(Config(), 'pytorch', local_rank=0):
        assert dist.is_initialized() and os.environ['LOCAL_RANK'] == '1'
        raise RuntimeError('boom')  # the other ranks may be gone: no barrier, but the group is destroyed
    assert not dist.is_initialized() and os.environ['LOCAL_RANK'] == '1'


def test_distributed_session_leaves_an_existing_group_to_its_owner(one_process_cpu_world):
    dist.init_process_group('gloo')
    with distributed_session(Config(), 'pytorch'):
        pass
    assert dist.is_initialized()
    with distributed_session(Config(), 'none') as cpu:
        assert not cpu
    assert dist.is_initialized() and 'LOCAL_RANK' not in os.environ


def test_cpu_launch_errors_name_the_fix(monkeypatch):
    from siameseim.distributed import setup_cpu_distributed
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert setup_cpu_distributed(Config(), 'none') is False
    with pytest.raises(SystemExit, match='--launcher mpi needs GPUs: on a CPU-only machine use --launcher pytorch'):
        setup_cpu_distributed(Config(), 'mpi')
    monkeypatch.delenv('SLURM_PROCID', raising=False)
    with pytest.raises(SystemExit, match='SLURM_PROCID is not set: start the job with srun'):
        setup_cpu_distributed(Config(), 'slurm')
