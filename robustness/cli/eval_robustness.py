"""Evaluate an ImageNet fine-tuned classifier on ImageNet val, -A, -R, -Sketch and -C; write JSON + Markdown.

    siameseim-eval-robustness CHECKPOINT --data-root data/ --out DIR [--arch vit-b | --config CONFIG]
        [--sets imagenet imagenet-a imagenet-r sketch imagenet-c] [--decode cpu|gpu] [--batch-size 256]
        [--workers 8] [--input-size 224] [--imagenet-c-resize] [--amp] [--launcher none|pytorch|slurm]

(also ``python tools/eval_robustness.py`` in a checkout). A convenience wrapper over the test configs
``siameseim-test`` runs (``robustness/configs/robustness/``): one
mmengine runner per set found under the data root, in this process (several processes: start it with
``torchrun --nproc_per_node N ... --launcher pytorch`` or ``srun ... --launcher slurm``). Layout under the
data root (docs/protocols.md §6): ``imagenet/val/<wnid>``, ``imagenet-a/<wnid>``, ``imagenet-r/<wnid>``,
``sketch/<wnid>``, ``imagenet-c/<corruption>/<1..5>/<wnid>``. A missing set is reported and skipped.
ImageNet-C files are scored as they are (224², centre crop only) unless ``--imagenet-c-resize``. The
checkpoint may be any fine-tuned classifier layout (this suite, timm, MAE, SiameseIM, DeiT); it is loaded
strictly, head included.
"""
import argparse
import itertools
import json
import os
import sys
from typing import List, Optional

import torch
from mmengine.dist import is_main_process
from mmengine.model import is_model_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import siameseim  # noqa: F401  (compatibility fixes)
from siameseim.errors import error_line
from siameseim.robustness.datasets import CorruptImageError
from siameseim.robustness.evaluate import SETS, classifier_config, results_markdown, run_benchmarks
from siameseim.robustness.models import classifier_state_dict
from siameseim.atomic import write_text_atomically
from siameseim.checkpoint import CheckpointError, read_checkpoint
from siameseim.cli_checks import positive_int
from siameseim.distributed import setup_cpu_distributed
from siameseim.registry import MODELS

RUN_IDS = itertools.count()  # mmengine keys loggers and visualizers by experiment name: one per runner


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='fine-tuned classifier (this suite, timm, MAE, SiameseIM, DeiT)')
    parser.add_argument('--data-root', default='data', help='folder holding imagenet/, imagenet-a/, ... (default data)')
    parser.add_argument('--out', required=True, help='output folder for results.json, results.md and the run logs')
    model = parser.add_mutually_exclusive_group()
    model.add_argument('--arch', default='vit-b', help='ViT size of the checkpoint (default vit-b)')
    model.add_argument('--config', help='the fine-tuning config the checkpoint was trained with')
    parser.add_argument('--sets', nargs='+', default=list(SETS), choices=SETS, help='benchmarks to run')
    parser.add_argument('--decode', default='cpu', choices=('cpu', 'gpu'),
                        help='JPEG decoding: loader worker CPUs, or nvJPEG in the data preprocessor')
    parser.add_argument('--batch-size', type=positive_int, default=256, help='images per process and step')
    parser.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1), help='loader workers per process')
    parser.add_argument('--input-size', type=positive_int, default=224, help='centre crop (resize is 256/224 of it)')
    parser.add_argument('--imagenet-c-resize', action='store_true',
                        help='resize ImageNet-C images like val (AugMix variant) instead of scoring them as they are')
    parser.add_argument('--amp', action='store_true', help='fp16 autocast in the test loop')
    parser.add_argument('--trust-pickle', action='store_true', help='allow pickled objects in the checkpoint')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if not os.path.isfile(args.checkpoint):
        print(f'error: checkpoint {args.checkpoint} does not exist', file=sys.stderr)
        return 2
    if not os.path.isdir(args.data_root):
        print(f'error: data root {args.data_root} does not exist: pass --data-root pointing at the folder with '
              f'imagenet/, imagenet-a/, imagenet-r/, sketch/, imagenet-c/', file=sys.stderr)
        return 2
    if args.decode == 'gpu' and not torch.cuda.is_available():
        print('error: --decode gpu needs a CUDA device: use --decode cpu on this machine', file=sys.stderr)
        return 2
    try:
        classifier = classifier_config(args.config, args.arch)
        classifier.launcher = args.launcher
        setup_cpu_distributed(classifier, args.launcher)
        with DefaultScope.overwrite_default_scope('siameseim'):
            model = MODELS.build(classifier.model)
        state_dict = classifier_state_dict(model, read_checkpoint(args.checkpoint, trust_pickle=args.trust_pickle),
                                           args.checkpoint)
        del model

        def run(name: str, cfg) -> dict:
            cfg.update(work_dir=os.path.join(args.out, name), experiment_name=f'{name}-{next(RUN_IDS)}',
                       load_from=None, resume=False)
            runner = Runner.from_cfg(cfg)
            (runner.model.module if is_model_wrapper(runner.model) else runner.model).load_state_dict(state_dict)
            return runner.test()

        resize = round(args.input_size * 256 / 224)
        results = run_benchmarks(classifier, args.data_root, run, sets=args.sets, crop_size=args.input_size,
                                 resize=resize, imagenet_c_resize=args.imagenet_c_resize, decode=args.decode,
                                 batch_size=args.batch_size, num_workers=args.workers, amp=args.amp,
                                 log=lambda line: print(line, flush=True))
    except (CheckpointError, CorruptImageError, FileNotFoundError, ValueError) as err:
        print(f'error: {error_line(err)}', file=sys.stderr)
        return 1
    if not is_main_process():
        return 0
    results['checkpoint'] = os.path.abspath(args.checkpoint)
    os.makedirs(args.out, exist_ok=True)
    write_text_atomically(os.path.join(args.out, 'results.json'), json.dumps(results, indent=2))
    markdown = results_markdown(results)
    write_text_atomically(os.path.join(args.out, 'results.md'), markdown)
    print(markdown)
    print(f'results written to {args.out}/results.json and results.md')
    return 0


if __name__ == '__main__':
    sys.exit(main())
