"""Evaluate an ImageNet fine-tuned classifier on ImageNet val, -A, -R, -Sketch and -C; write JSON + Markdown.

    python tools/eval_robustness.py CHECKPOINT --data-root data/ --out DIR [--arch vit-b | --config CONFIG]
        [--sets imagenet imagenet-a imagenet-r sketch imagenet-c] [--device cuda] [--decode cpu|gpu]
        [--batch-size 256] [--workers 8] [--imagenet-c-resize] [--amp]

Layout under the data root (downstream.md §6): ``imagenet/val/<wnid>``, ``imagenet-a/<wnid>``,
``imagenet-r/<wnid>``, ``sketch/<wnid>``, ``imagenet-c/<corruption>/<1..5>/<wnid>``. A missing set is reported
and skipped. ImageNet-C files are scored as they are (224², centre crop only) unless ``--imagenet-c-resize``.
"""
import argparse
import json
import os
import sys
from typing import List, Optional

import torch

import siameseim  # noqa: F401  (compatibility fixes)
from robustness.cli import error_line
from robustness.datasets import CorruptImageError
from robustness.evaluate import SETS, build_classifier, results_markdown, run_benchmarks
from siameseim.checkpoint import CheckpointError
from siameseim.cli_checks import positive_int


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='fine-tuned classifier (this suite, timm, MAE, SiameseIM, DeiT)')
    parser.add_argument('--data-root', default='data', help='folder holding imagenet/, imagenet-a/, ... (default data)')
    parser.add_argument('--out', required=True, help='output folder for results.json and results.md')
    model = parser.add_mutually_exclusive_group()
    model.add_argument('--arch', default='vit-b', help='ViT size of the checkpoint (default vit-b)')
    model.add_argument('--config', help='the fine-tuning config the checkpoint was trained with')
    parser.add_argument('--sets', nargs='+', default=list(SETS), choices=SETS, help='benchmarks to run')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--decode', default='cpu', choices=('cpu', 'gpu'), help='JPEG decoding: worker CPUs or nvJPEG')
    parser.add_argument('--batch-size', type=positive_int, default=256)
    parser.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument('--input-size', type=positive_int, default=224, help='centre crop (resize is 256/224 of it)')
    parser.add_argument('--imagenet-c-resize', action='store_true',
                        help='resize ImageNet-C images like val (AugMix variant) instead of scoring them as they are')
    parser.add_argument('--amp', action='store_true', help='fp16 autocast on CUDA')
    parser.add_argument('--trust-pickle', action='store_true', help='allow pickled objects in the checkpoint')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if not os.path.isfile(args.checkpoint):
        print(f'error: checkpoint {args.checkpoint} does not exist', file=sys.stderr)
        return 2
    if not os.path.isdir(args.data_root):
        print(f'error: data root {args.data_root} does not exist: pass --data-root pointing at the folder with '
              f'imagenet/, imagenet-a/, imagenet-r/, sketch/, imagenet-c/', file=sys.stderr)
        return 2
    if args.decode == 'gpu' and not args.device.startswith('cuda'):
        print('error: --decode gpu needs --device cuda', file=sys.stderr)
        return 2
    try:
        model = build_classifier(args.checkpoint, args.config, args.arch, trust_pickle=args.trust_pickle)
        resize = round(args.input_size * 256 / 224)
        results = run_benchmarks(model, args.data_root, sets=args.sets, device=args.device, decode=args.decode,
                                 batch_size=args.batch_size, num_workers=args.workers, crop_size=args.input_size,
                                 resize=resize, imagenet_c_resize=args.imagenet_c_resize, amp=args.amp,
                                 log=lambda line: print(line, flush=True))
    except (CheckpointError, CorruptImageError, FileNotFoundError, ValueError) as err:
        print(f'error: {error_line(err)}', file=sys.stderr)
        return 1
    results['checkpoint'] = os.path.abspath(args.checkpoint)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'results.json'), 'w') as f:
        json.dump(results, f, indent=2)
    markdown = results_markdown(results)
    with open(os.path.join(args.out, 'results.md'), 'w') as f:
        f.write(markdown)
    print(markdown)
    print(f'results written to {args.out}/results.json and results.md')
    return 0


if __name__ == '__main__':
    sys.exit(main())
