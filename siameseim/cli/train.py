"""Train any SiameseIM Suite config (pretraining, COCO/LVIS, ADE20k, ImageNet) with an mmengine Runner.

    siameseim-train CONFIG [--work-dir DIR] [--amp] [--no-resume] [--cfg-options k=v ...]

(also ``python -m siameseim train`` and ``python tools/train.py`` in a checkout). CONFIG is a file, or a
packaged config by its checkout path (``pretrain/configs/...``) from any directory.

Runs resume automatically from the newest intact checkpoint in the work dir (``--no-resume`` starts over,
``--resume PATH`` resumes from a given checkpoint); a resumed run follows the config's lr, so
``--cfg-options optim_wrapper.optimizer.lr=<lr>`` resumes with a new one (docs/reliability.md). Launch on many
GPUs with ``tools/dist_train.sh`` and on slurm with ``tools/slurm_train.sh``; both call this script with
``--launcher``, and both also run on CPU-only machines (gloo, see ``siameseim.distributed``).
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import Config

import siameseim  # noqa: F401  (registers the core modules and applies the compatibility fixes)
from siameseim.checkpoint import CheckpointError
from siameseim.cli_checks import CfgOptionsAction, check_cfg_options, check_schedule, writable_folder
from siameseim.distributed import distributed_session
from siameseim.engine import CheckpointSaveError, SafeRunner
from siameseim.errors import InputError, error_line
from siameseim.packaged_configs import resolve_config

# A bad checkpoint to load, a failed save, a diverged run: one line each, no traceback.
EXIT_BAD_CHECKPOINT, EXIT_RUN_STOPPED = 2, 1


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default: work_dirs/<config name>)')
    parser.add_argument('--amp', action='store_true', help='mixed precision (AmpOptimWrapper) if the config has none')
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument('--resume', metavar='CHECKPOINT', help='resume from this checkpoint')
    resume.add_argument('--no-resume', action='store_true', help='start over even if the work dir has checkpoints')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction, help='override config entries, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line choices to it."""
    cfg = Config.fromfile(resolve_config(args.config))
    check_cfg_options(cfg, args.cfg_options)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    check_schedule(cfg)
    cfg.launcher = args.launcher
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    writable_folder(cfg.work_dir, '--work-dir')
    if args.amp and cfg.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper':
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    elif args.no_resume:
        cfg.resume = False
    else:
        cfg.resume = True
    return cfg


def train(cfg: Config) -> int:
    """Build the Runner of ``cfg``, train, and return the number of iterations run.

    The Runner lives only inside this call, so the process group it uses can be released when the
    distributed session ends.
    """
    runner = SafeRunner.from_cfg(cfg)
    runner.train()
    runner.logger.info(f'training finished: {runner.iter} iterations, logs and checkpoints in {cfg.work_dir}')
    return runner.iter


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        cfg = build_config(args)
        with distributed_session(cfg, args.launcher, args.local_rank):
            train(cfg)
    except InputError as err:  # also when re-raised from a data-loader worker
        print(f'error: {error_line(err)}', file=sys.stderr)
        return 2
    except (CheckpointError, CheckpointSaveError, FloatingPointError) as err:
        print(f'error: {err}', file=sys.stderr)
        return EXIT_BAD_CHECKPOINT if isinstance(err, CheckpointError) else EXIT_RUN_STOPPED
    return 0


if __name__ == '__main__':
    sys.exit(main())
