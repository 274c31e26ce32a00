"""Distributed runs on machines without GPUs: the process group on gloo and DDP on the CPU.

mmengine's pytorch and slurm launchers call ``torch.cuda.set_device`` and its Runner wraps the model with
``device_ids=[LOCAL_RANK]``; both need a GPU. Where CUDA is available nothing here is used. Without it,
:func:`setup_cpu_distributed` starts the process group itself (so the Runner does not) and points the Runner
at :class:`CPUDistributedDataParallel`, so ``tools/dist_train.sh`` and ``tools/slurm_train.sh`` run the
same code on CPU-only machines and in CI. SyncBatchNorm has no CPU kernel: there, BatchNorm statistics stay
per process, and a warning says so.
"""
import logging
import os
import subprocess
from datetime import timedelta

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
