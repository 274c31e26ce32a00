"""Distributed runs on machines without GPUs: the process group on gloo and DDP on the CPU.

mmengine's pytorch and slurm launchers call ``torch.cuda.set_device`` and its Runner wraps the model with
``device_ids=[LOCAL_RANK]``; both need a GPU. Where CUDA is available nothing here is used. Without it,
:func:`setup_cpu_distributed` starts the process group itself (so the Runner does not) and points the Runner
at :class:`CPUDistributedDataParallel`, so ``tools/dist_train.sh`` and ``tools/slurm_train.sh`` run the
same code on CPU-only machines and in CI. SyncBatchNorm has no CPU kernel: there, BatchNorm statistics stay
per process, and a warning says so.

:func:`distributed_session` wraps one run of ``tools/train.py`` / ``tools/test.py``: it also destroys the
process group the run started, so gloo's native threads are joined while the interpreter is still alive
instead of by exit-time destructors (which abort the process with ``terminate called without an active
exception``), and it gives back the ``LOCAL_RANK`` variable it set.
"""
import contextlib
import gc
import logging
import os
import subprocess
from datetime import timedelta
from typing import Iterator

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS

CPU_LAUNCHERS = ('pytorch', 'slurm')


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for CPU processes: no device ids, SyncBatchNorm reverted to BatchNorm."""

    def __init__(self, module: torch.nn.Module, device_ids: object = None, **kwargs) -> None:
        if any(type(m).__name__ == 'SyncBatchNorm' for m in module.modules()):  # torch's or mmcv's
            print_log('SyncBatchNorm has no CPU kernel: BatchNorm statistics stay per process in this CPU run',
                      logger='current', level=logging.WARNING)
        super().__init__(module=revert_sync_batchnorm(module), device_ids=None, **kwargs)


def _slurm_environment() -> None:
    """RANK, WORLD_SIZE, LOCAL_RANK and the master address from slurm's variables, as mmengine derives them."""
    try:
        rank, world_size = os.environ['SLURM_PROCID'], os.environ['SLURM_NTASKS']
        node_list = os.environ['SLURM_NODELIST']
    except KeyError as err:
        raise SystemExit(f'error: --launcher slurm but {err.args[0]} is not set: start the job with srun '
                         f'(tools/slurm_train.sh)') from None
    os.environ.update(RANK=rank, WORLD_SIZE=world_size, LOCAL_RANK=os.environ.get('SLURM_LOCALID', '0'))
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        hosts = subprocess.run(['scontrol', 'show', 'hostname', node_list], capture_output=True, text=True,
                               check=True).stdout.split()
        os.environ['MASTER_ADDR'] = hosts[0]


def setup_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """On a machine without CUDA, start ``launcher``'s process group on gloo and run DDP on the CPU.

    Returns whether it did; with CUDA (or ``launcher='none'``) it does nothing and mmengine's launcher runs.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher not in CPU_LAUNCHERS:
        raise SystemExit(f'error: --launcher {launcher} needs GPUs: on a CPU-only machine use --launcher pytorch '
                         f'(tools/dist_train.sh) or slurm')
    if launcher == 'slurm':
        _slurm_environment()
    if not dist.is_initialized():
        timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout', 1800)
        dist.init_process_group('gloo', timeout=timedelta(seconds=timeout))
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    if wrapper.get('type', 'MMDistributedDataParallel') == 'MMDistributedDataParallel':
        wrapper['type'] = 'CPUDistributedDataParallel'
        wrapper.setdefault('broadcast_buffers', False)
        wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
        cfg.model_wrapper_cfg = wrapper
    return True


@contextlib.contextmanager
def local_rank_environment(local_rank: int) -> Iterator[None]:
    """``LOCAL_RANK`` set to ``local_rank`` unless a launcher already set it; removed again afterwards.

    mmengine reads the local rank from the environment; launchers that pass ``--local-rank`` instead
    (``torch.distributed.launch``) rely on the scripts to export it. A run inside a longer-lived process (the
    suite, tests) must not leave it behind.
    """
    if 'LOCAL_RANK' in os.environ:
        yield
        return
    os.environ['LOCAL_RANK'] = str(local_rank)
    try:
        yield
    finally:
        os.environ.pop('LOCAL_RANK', None)


def teardown_process_group(success: bool) -> None:
    """Wait for every rank (after a successful run), then destroy the default process group.

    Destroying it and collecting the finished Runner (whose DDP reducer still holds the group, inside reference
    cycles) joins the backend's threads now (gloo: a TCP event loop and two collective workers). Left to
    interpreter exit, those threads outlive the Python objects that own them and the process can abort in a
    C++ destructor after its work is done, so a finished run would be reported as failed.
    """
    if not dist.is_initialized():
        return
    if success:
        dist.barrier()  # no rank closes its connections while another is still using them
    dist.destroy_process_group()
    gc.collect()


@contextlib.contextmanager
def distributed_session(cfg: Config, launcher: str, local_rank: int = 0) -> Iterator[bool]:
    """One training or test run: the CPU process group (see :func:`setup_cpu_distributed`), and a clean end.

    Yields whether the CPU path is used. A process group started inside the session (here or by mmengine's
    launcher in the Runner) is destroyed when it ends; one that already existed is left to its owner.
    """
    with local_rank_environment(local_rank):
        owned = not dist.is_initialized()
        success = False
        try:
            yield setup_cpu_distributed(cfg, launcher)
            success = True
        finally:
            if owned:
                teardown_process_group(success)
