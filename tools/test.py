"""Evaluate a trained checkpoint with its config (COCO/LVIS, ADE20k, ImageNet) through an mmengine Runner.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE] [--cfg-options k=v ...]

Multi-GPU: ``torchrun --nproc_per_node N tools/test.py CONFIG CHECKPOINT --launcher pytorch``.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process
from mmengine.runner import Runner

import siameseim  # noqa: F401  (registers the suite and applies the compatibility fixes)
from siameseim.checkpoint import CheckpointError
from siameseim.distributed import setup_cpu_distributed


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint of a run of this config')
    parser.add_argument('--work-dir', help='where logs go (default: work_dirs/<config name>)')
    parser.add_argument('--out', help='also write the metrics to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    for path, what in ((args.config, 'config file'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            print(f'error: {what} {path} does not exist', file=sys.stderr)
            return 2
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.resume = False
    setup_cpu_distributed(cfg, args.launcher)
    try:
        runner = Runner.from_cfg(cfg)
        metrics = runner.test()
    except (CheckpointError, FileNotFoundError) as err:  # a checkpoint that does not fit, absent data: one line
        print(f'error: {err}', file=sys.stderr)
        return 1
    if args.out and is_main_process():  # every rank holds the same metrics; one writes them
        with open(args.out, 'w') as f:
            json.dump({key: float(value) if isinstance(value, (int, float)) else value
                       for key, value in metrics.items()}, f, indent=2, default=str)
        runner.logger.info(f'metrics written to {args.out}')
    runner.logger.info('test finished: ' + ', '.join(f'{key}={value}' for key, value in metrics.items()
                                                    if isinstance(value, (int, float))))
    return 0


if __name__ == '__main__':
    sys.exit(main())
