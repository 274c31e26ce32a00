"""Run the training and test programs (:mod:`siameseim.cli`) for a task: in this process, with torchrun or
with srun, as the suite's context says.

The programs are addressed as modules (``python -m siameseim.cli.train``), so launching needs the installed
package only, not the checkout.
"""
import contextlib
import importlib
import os.path as osp
import subprocess
import sys
import traceback
from typing import List

from .task import SuiteContext

PROGRAMS = {'train': 'siameseim.cli.train', 'test': 'siameseim.cli.test'}


def _run_in_process(program: str, args: List[str], ctx: SuiteContext, work_dir: str) -> int:
    """``program`` in this process; with ``ctx.extra['quiet']`` its output goes to ``<work dir>/<program>.log``."""
    main = importlib.import_module(PROGRAMS[program]).main
    if not ctx.extra.get('quiet'):
        return main(args)
    log_path = osp.join(work_dir, f'{program}.log')
    with open(log_path, 'a') as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            status = main(args)
        except Exception:
            traceback.print_exc(file=log)
            status = 1
    if status:
        with open(log_path) as log:
            ctx.log('\n'.join(log.read().splitlines()[-15:]))
    return status


def launch(program: str, args: List[str], ctx: SuiteContext, work_dir: str) -> None:
    """Run ``program`` (``train`` or ``test``) with ``args``; raises RuntimeError naming the log if it fails."""
    if program not in PROGRAMS:
        raise ValueError(f'unknown program {program!r}: choose from {", ".join(PROGRAMS)}')
    if ctx.launcher == 'none':
        status = _run_in_process(program, args, ctx, work_dir)
        if status:
            raise RuntimeError(f'{PROGRAMS[program]} {" ".join(args)} failed with exit status {status}')
        return
    module = PROGRAMS[program]
    if ctx.launcher == 'pytorch':
        command = [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={ctx.gpus}',
                   '-m', module, *args, '--launcher', 'pytorch']
    else:
        command = ['srun', '-p', ctx.partition, f'--job-name=suite-{program}', f'--ntasks={ctx.gpus}',
                   f'--gres=gpu:{min(ctx.gpus, 8)}', f'--ntasks-per-node={min(ctx.gpus, 8)}', '--kill-on-bad-exit=1',
                   sys.executable, '-u', '-m', module, *args, '--launcher', 'slurm']
    with open(osp.join(work_dir, f'{program}.log'), 'a') as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    if result.returncode:
        raise RuntimeError(f'{" ".join(command[:4])} ... failed (exit {result.returncode}): see {log.name}')


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint a finished training run in ``work_dir`` saved last (its ``last_checkpoint`` pointer)."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        raise RuntimeError(f'training in {work_dir} saved no checkpoint (no last_checkpoint file)')
    with open(marker) as f:
        return f.read().strip()
