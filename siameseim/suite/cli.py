"""``python -m siameseim bench`` / ``demo`` / ``report`` (the ``siameseim`` console script, ``tools/benchmark.py``):
checkpoints in, paper table out.

    python -m siameseim bench --checkpoint ours=sim.pth --checkpoint mae=mae_pretrain_vit_base.pth \\
        --tasks finetune coco ade20k robustness --data-root data --out work_dirs/suite --baseline mae
    python -m siameseim demo            # toy world + tiny SiameseIM and MAE pretraining + every task, on a CPU
    python -m siameseim ablation --rows a g i --baselines mocov3   # the paper's ablation rows, toy scale
    python -m siameseim report work_dirs/suite --baseline mae   # rebuild report.html, running nothing

Writes ``results.json`` (resumable state), ``results.csv``, ``results.md``, ``results.png`` and the
self-contained ``report.html`` to ``--out``;
one run at a time per ``--out`` (``suite.lock``, see :mod:`siameseim.suite.lock`).
"""
import argparse
import os.path as osp
import resource
import sys
import time
from typing import List, Optional

import torch

from ..atomic import write_text_atomically
from ..benchmark import SuiteCheckpoint, SuiteContext
from ..cli_checks import positive_int, writable_folder
from .charts import plot_results
from .columns import PAPER_ROWS
from .lock import SuiteLockedError, output_lock
from .provenance import provenance_footer
from .report import build_report
from .runner import parse_checkpoint_args, run_suite
from .table import to_csv, to_markdown
from .tasks import build_tasks, task_names


def _log(line: str) -> None:
    print(line, flush=True)


def write_report(results: dict, out_dir: str, baseline: Optional[str]) -> str:
    """``results.md``, ``results.csv`` and ``results.png`` next to ``results.json``; returns the Markdown."""
    markdown = to_markdown(results, baseline=baseline)
    write_text_atomically(osp.join(out_dir, 'results.md'), markdown + provenance_footer(results))
    write_text_atomically(osp.join(out_dir, 'results.csv'), to_csv(results))
    plot_results(results, out_dir)
    build_report(out_dir, baseline)
    return markdown


def peak_rss_mib() -> float:
    """Peak resident memory in MiB of this process or of its largest finished child (launched tools)."""
    peak_kib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return peak_kib / 1024


def _summary(results: dict, out_dir: str, markdown: str, start: float) -> None:
    states = [task['status'] for entry in results['checkpoints'].values() for task in entry['tasks'].values()]
    _log('')
    _log(markdown)
    failed = f', {states.count("failed")} FAILED' if 'failed' in states else ''
    _log(f'[suite] {states.count("done")} task runs done, {states.count("skipped")} skipped{failed}, in '
         f'{time.time() - start:.0f} s wall time, peak RSS {peak_rss_mib():.0f} MiB; results.json, results.csv, '
         f'results.md, results.png and report.html in {out_dir}')


def _exit_status(results: dict) -> int:
    """1 when any task run failed or none produced a result (all skipped; the table is still written), else 0."""
    states = [task['status'] for entry in results['checkpoints'].values() for task in entry['tasks'].values()]
    if 'done' not in states:
        _log('[suite] error: no task produced a result (every task was skipped, see the reasons above)')
        return 1
    return int('failed' in states)


def bench(args: argparse.Namespace) -> int:
    start = time.time()
    checkpoints = parse_checkpoint_args(args.checkpoint, args.arch)
    if args.baseline is not None and args.baseline not in [c.name for c in checkpoints] + list(PAPER_ROWS):
        raise ValueError(f'--baseline {args.baseline} is neither a --checkpoint name nor a paper row '
                         f'({", ".join(PAPER_ROWS)})')
    if args.launcher == 'slurm' and not args.partition:
        raise ValueError('--launcher slurm needs --partition')
    if not osp.isdir(args.data_root):
        raise FileNotFoundError(f'--data-root {args.data_root} is not a folder: point it at the data/ layout of '
                                f'docs/data.md')
    ctx = SuiteContext(out_dir=args.out, data_root=args.data_root, launcher=args.launcher, gpus=args.gpus,
                       partition=args.partition, log=_log,
                       extra=dict(subset_file=args.subset_file, device=args.device,
                                  detection_schedule=args.detection_schedule))
    results = run_suite(checkpoints, build_tasks(args.tasks), ctx)
    _summary(results, args.out, write_report(results, args.out, args.baseline), start)
    return _exit_status(results)


def _toy_run(args: argparse.Namespace, methods: List[str]) -> dict:
    """The toy world, a tiny pretraining of each of ``methods`` under one budget (same data, iterations and
    batch), the chosen tasks for each and a random init, the report; returns the results."""
    from .demo import DEMO_SIZES, QUICK_SIZES, demo_context, make_demo_data, pretrain_tiny

    start = time.time()
    ctx = demo_context(args.out, args.quick, log=_log)
    data = make_demo_data(ctx.data_root, QUICK_SIZES if args.quick else DEMO_SIZES, log=_log)
    ctx.extra['subset_files'] = data['subset_files']
    iterations = args.pretrain_iters if args.pretrain_iters is not None else (40 if args.quick else 300)
    checkpoints = [SuiteCheckpoint(f'{method}-tiny', pretrain_tiny(method, osp.join(args.out, 'pretrain', method),
                                                                    ctx.data_root, iterations, args.batch_size, ctx),
                                   'demo')
                   for method in methods]
    checkpoints.append(SuiteCheckpoint('random-init', None, 'demo'))
    results = run_suite(checkpoints, build_tasks(args.tasks), ctx)
    _summary(results, args.out, write_report(results, args.out, 'random-init'), start)
    return results


def demo(args: argparse.Namespace) -> int:
    return _exit_status(_toy_run(args, list(args.methods)))


def ablation(args: argparse.Namespace) -> int:
    """The chosen rows of the paper's ablation (and baselines) at the toy scale; ``ablation.md`` beside the
    main report holds the rows' measured values next to the paper's."""
    from .ablation_table import ablation_markdown
    from .demo import ABLATION_PREFIX

    rows = list(dict.fromkeys(args.rows))
    results = _toy_run(args, [f'{ABLATION_PREFIX}{row}' for row in rows] + list(dict.fromkeys(args.baselines)))
    path = osp.join(args.out, 'ablation.md')
    write_text_atomically(path, ablation_markdown(results, rows))
    _log(f'[ablation] rows {", ".join(rows)}: measured beside the paper in {path}')
    return _exit_status(results)


def build_parser() -> argparse.ArgumentParser:
    from ..pretrain.ablation import ROWS

    from .demo import DEMO_METHODS, PRETRAIN_CONFIGS

    parser = argparse.ArgumentParser(prog='python -m siameseim', description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest='command', required=True)
    bench_parser = commands.add_parser('bench', help='benchmark checkpoints on the chosen tasks')
    bench_parser.add_argument('--checkpoint', action='append', required=True, metavar='NAME=PATH',
                              help='a checkpoint of any supported format (repeat; NAME=random for no pretraining)')
    bench_parser.add_argument('--tasks', nargs='+', default=list(task_names()), choices=task_names())
    bench_parser.add_argument('--arch', default='vit-b', help='ViT size of the checkpoints (vit-b, vit-l)')
    bench_parser.add_argument('--data-root', default='data', help='OpenMMLab data/ layout (docs/data.md)')
    bench_parser.add_argument('--out', default='work_dirs/suite', help='results and per-task work dirs')
    bench_parser.add_argument('--baseline', help='row the deltas are computed against (a NAME or MAE, MoCo-v3, ...)')
    bench_parser.add_argument('--subset-file', help='few-shot training list (default: the shipped SimCLR 1 %% list)')
    bench_parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    bench_parser.add_argument('--gpus', type=positive_int, default=1,
                              help='GPUs per task with --launcher pytorch/slurm')
    bench_parser.add_argument('--partition', help='slurm partition (with --launcher slurm)')
    bench_parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                              help='device of the frozen-feature tasks (k-NN, few-shot); the trained tasks run where '
                                   'their launcher puts them')
    bench_parser.add_argument('--detection-schedule', choices=['100e', '25e'], default='100e',
                              help='COCO fine-tuning schedule: the 100-epoch ViTDet recipe, or the 25-epoch one of '
                                   'the paper\'s ablation (docs/ablation.md; ViT-B only)')
    demo_parser = commands.add_parser('demo', help='toy world + tiny SiameseIM and MAE + every task, on a CPU')
    demo_parser.add_argument('--out', default='work_dirs/demo')
    demo_parser.add_argument('--quick', action='store_true', help='fewer iterations everywhere (CI)')
    demo_parser.add_argument('--pretrain-iters', type=positive_int,
                             help='pretraining iterations of each method (default 300, quick 40)')
    demo_parser.add_argument('--batch-size', type=positive_int, default=32, help='pretraining batch size')
    demo_parser.add_argument('--tasks', nargs='+', default=list(task_names()), choices=task_names())
    demo_parser.add_argument('--methods', nargs='+', default=list(DEMO_METHODS), choices=list(PRETRAIN_CONFIGS),
                             help='methods pretrained under one budget (add mocov3 for ours vs MAE vs MoCo-v3)')
    ablation_parser = commands.add_parser('ablation', help="rows of the paper's ablation (and baselines) pretrained "
                                                           'tiny on the toy world, evaluated, beside the paper')
    ablation_parser.add_argument('--rows', nargs='+', default=['a', 'g', 'i'], choices=list(ROWS),
                                 help='ablation rows (docs/ablation.md), default a (MAE-like), g (MoCo-like), i '
                                      '(SiameseIM)')
    ablation_parser.add_argument('--baselines', nargs='*', default=[], choices=list(PRETRAIN_CONFIGS),
                                 help='baselines pretrained under the same budget (siameseim mae mocov3)')
    ablation_parser.add_argument('--tasks', nargs='+', default=['linear', 'knn', 'finetune', 'coco'],
                                 choices=task_names(), help='the ablation reports FT, LIN and COCO')
    ablation_parser.add_argument('--out', default='work_dirs/ablation')
    ablation_parser.add_argument('--quick', action='store_true', help='fewer iterations everywhere (CI)')
    ablation_parser.add_argument('--pretrain-iters', type=positive_int,
                                 help='pretraining iterations of each row (default 300, quick 40)')
    ablation_parser.add_argument('--batch-size', type=positive_int, default=32, help='pretraining batch size')
    report_parser = commands.add_parser('report', help='(re)build OUT_DIR/report.html from a finished or partial run')
    report_parser.add_argument('out', metavar='OUT_DIR', help='the --out folder of a bench or demo run')
    report_parser.add_argument('--baseline', help='row the deltas are computed against (a checkpoint name or MAE, '
                                                  'MoCo-v3, SiameseIM)')
    return parser


def report(args: argparse.Namespace) -> int:
    """Rebuild ``report.html`` from what a run left; reads only, so it needs no lock on the output dir."""
    _log(f'[suite] report written to {build_report(args.out, args.baseline)}')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == 'report':
            return report(args)
        writable_folder(args.out, '--out')
        with output_lock(args.out, log=_log):
            return {'bench': bench, 'demo': demo, 'ablation': ablation}[args.command](args)
    except (FileNotFoundError, ValueError, SuiteLockedError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
