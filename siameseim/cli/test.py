"""Evaluate a trained checkpoint with its config (COCO/LVIS, ADE20k, ImageNet) through an mmengine Runner.

    siameseim-test CONFIG CHECKPOINT [--work-dir DIR] [--out FILE] [--show-dir DIR [--show-max N]]
        [--cfg-options k=v ...]

(also ``python -m siameseim test`` and ``python tools/test.py`` in a checkout; CONFIG as for ``siameseim-train``).

The checkpoint is read weights-only and loaded strictly: a file that is not a finite checkpoint of this config's
model, or absent data, ends with one ``error:`` line and exit code 2. Multi-GPU: ``torchrun --nproc_per_node N
-m siameseim.cli.test CONFIG CHECKPOINT --launcher pytorch``.
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Optional

from mmengine.config import Config
from mmengine.dist import is_main_process

import siameseim  # noqa: F401  (registers the core modules and applies the compatibility fixes)
from siameseim.atomic import write_text_atomically
from siameseim.checkpoint import CheckpointError
from siameseim.cli_checks import CfgOptionsAction, check_cfg_options, writable_file, writable_folder
from siameseim.distributed import distributed_session
from siameseim.engine import SafeRunner
from siameseim.errors import InputError, error_line
from siameseim.packaged_configs import resolve_config
from siameseim.prediction_snapshots import PredictionSnapshotHook  # noqa: F401  (registers the --show-dir hook)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint of a run of this config')
    parser.add_argument('--work-dir', help='where logs go (default: work_dirs/<config name>)')
    parser.add_argument('--out', help='also write the metrics to this JSON file')
    parser.add_argument('--show-dir', help='draw the predictions of the first test images into this folder '
                                           '(detection and segmentation configs)')
    parser.add_argument('--show-max', type=int, default=4, help='how many images --show-dir draws (default 4)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction, help='override config entries, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def evaluate(cfg: Config, out: Optional[str] = None) -> Dict[str, object]:
    """Test ``cfg.load_from`` with a Runner of ``cfg``; rank 0 also writes the metrics to ``out`` (JSON).

    The Runner lives only inside this call, so the process group it uses can be released when the
    distributed session ends.
    """
    runner = SafeRunner.from_cfg(cfg)
    metrics = runner.test()
    if out and is_main_process():  # every rank holds the same metrics; one writes them (temp + rename)
        write_text_atomically(out, json.dumps({key: float(value) if isinstance(value, (int, float)) else value
                                               for key, value in metrics.items()}, indent=2, default=str))
        runner.logger.info(f'metrics written to {out}')
    runner.logger.info('test finished: ' + ', '.join(f'{key}={value}' for key, value in metrics.items()
                                                    if isinstance(value, (int, float))))
    return metrics


def add_prediction_snapshots(cfg: Config, args: argparse.Namespace) -> None:
    """``--show-dir``: the first ``--show-max`` test images drawn by the config's mmdet/mmseg visualizer."""
    if args.show_max < 1:
        raise InputError(f'--show-max must be at least 1, got {args.show_max}')
    visualizer = str((cfg.get('visualizer') or {}).get('type', 'none')).split('.')[-1]
    if visualizer not in ('DetLocalVisualizer', 'SegLocalVisualizer'):
        raise InputError(f"--show-dir draws with the config's visualizer, and the one of {args.config} ({visualizer}) "
                         f'draws no predictions: use a detection or segmentation config')
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [dict(
        type='siameseim.PredictionSnapshotHook', out_dir=osp.abspath(writable_folder(args.show_dir, '--show-dir')),
        max_images=args.show_max)]


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    for path, what in ((args.config, 'config file'), (args.checkpoint, 'checkpoint')):
        if what == 'config file' and not osp.exists(path):
            try:
                args.config = path = resolve_config(path)
            except InputError as err:
                print(f'error: {err}', file=sys.stderr)
                return 2
        if osp.isdir(path):
            print(f'error: {what} {path} is a directory, not a file: give the file inside it', file=sys.stderr)
            return 2
        if not osp.isfile(path):
            print(f'error: {what} {path} does not exist', file=sys.stderr)
            return 2
    try:
        cfg = Config.fromfile(args.config)
        check_cfg_options(cfg, args.cfg_options)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        cfg.launcher = args.launcher
        cfg.work_dir = writable_folder(args.work_dir or cfg.get('work_dir') or osp.join(
            'work_dirs', osp.splitext(osp.basename(args.config))[0]), '--work-dir')
        if args.out:
            writable_file(args.out, '--out')
        cfg.load_from = args.checkpoint
        if args.show_dir:
            add_prediction_snapshots(cfg, args)
        cfg.resume = False
        with distributed_session(cfg, args.launcher, args.local_rank):
            evaluate(cfg, args.out)
    except InputError as err:  # also when re-raised from a data-loader worker
        print(f'error: {error_line(err)}', file=sys.stderr)
        return 2
    except (CheckpointError, FileNotFoundError) as err:  # unreadable, NaN/inf or unfitting checkpoint, absent data
        print(f'error: {err}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
