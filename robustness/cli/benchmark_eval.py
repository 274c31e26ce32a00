"""Evaluation throughput of the runner path: images/s with CPU (PIL, loader workers) and GPU (nvJPEG) decoding.

    python -m siameseim.robustness.cli.benchmark_eval [--data FOLDER] [--num-images 2048] [--batch-size 256]
        [--workers 8] [--arch vit-b] [--input-size 224] [--no-resize] [--amp]

(also ``python tools/benchmark_eval.py`` in a checkout). Each decode path runs the robustness test config of
``siameseim-test`` (``robustness/configs/robustness/``:
dataset, loader, data preprocessor, classifier, metric) through mmengine's runner on ``--data`` (a
``<wnid>/<image>`` folder, e.g. one ImageNet-C severity or ImageNet val; default: synthetic 224² JPEGs at
quality 85, like ImageNet-C files). The classifier has random weights (speed does not depend on them). The
rate counts the images after the first batch to the end of the test epoch, so start-up and worker spawn
are left out. The GPU path runs only when CUDA is available. Record the figures in ``docs/benchmarks.md``
with the machine's GPU, CPU count and the command line.
"""
import argparse
import os
import sys
import tempfile
import time
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner
from PIL import Image

import siameseim  # noqa: F401  (registers the suite and applies the compatibility fixes)
from siameseim.robustness.datasets import scan_wnid_folder
from siameseim.robustness.evaluate import benchmark_config, classifier_config
from siameseim.robustness.toy import toy_wnids
from siameseim.cli_checks import positive_int


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', help='<wnid>/<image> folder to read (default: synthetic 224x224 JPEGs)')
    parser.add_argument('--num-images', type=positive_int, default=2048, help='images per timed pass')
    parser.add_argument('--batch-size', type=positive_int, default=256)
    parser.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument('--arch', default='vit-b', help='ViT size of the classifier in the loop')
    parser.add_argument('--input-size', type=positive_int, default=224)
    parser.add_argument('--no-resize', action='store_true', help='centre crop only (ImageNet-C files)')
    parser.add_argument('--amp', action='store_true', help='fp16 autocast in the test loop')
    return parser.parse_args(argv)


def synthetic_jpegs(root: str, count: int, size: int = 224) -> None:
    """``count`` noisy ``size``² JPEGs (quality 85) spread over a few wnid folders."""
    rng = np.random.default_rng(0)
    wnids = toy_wnids()
    for index in range(count):
        folder = os.path.join(root, wnids[index % len(wnids)])
        os.makedirs(folder, exist_ok=True)
        base = rng.integers(0, 255, (size // 8, size // 8, 3), dtype=np.uint8)
        image = Image.fromarray(base).resize((size, size), Image.BICUBIC)
        noisy = np.clip(np.asarray(image, dtype=np.int16) + rng.integers(-20, 20, (size, size, 3)), 0, 255)
        Image.fromarray(noisy.astype(np.uint8)).save(os.path.join(folder, f'{index:06d}.JPEG'), quality=85)


class ThroughputHook(Hook):
    """Images and seconds of a test epoch, from the end of its first iteration (after start-up)."""

    def __init__(self) -> None:
        self.start, self.images, self.seconds = 0.0, 0, 0.0

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if batch_idx == 0:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.start = time.perf_counter()
        else:
            self.images += len(outputs)

    def after_test_epoch(self, runner, metrics=None) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self.start


def images_per_second(samples: Sequence[Tuple[str, int]], decode: str, args: argparse.Namespace,
                      work_dir: str) -> float:
    """Images/s of one runner test pass over ``samples`` with ``decode``."""
    classifier = classifier_config(arch=args.arch)
    classifier.model.backbone.img_size = args.input_size
    resize = round(args.input_size * 256 / 224)
    cfg = benchmark_config(classifier, 'imagenet', '', crop_size=args.input_size, resize=resize, decode=decode,
                           batch_size=args.batch_size, num_workers=args.workers, amp=args.amp)
    cfg.test_dataloader.dataset.samples = [list(sample) for sample in samples]
    if args.no_resize:
        cfg.test_dataloader.dataset.transform.resize = None
    cfg.update(work_dir=os.path.join(work_dir, decode), experiment_name=f'benchmark_eval_{decode}', load_from=None,
               resume=False, log_level='WARNING', default_hooks=dict(cfg.default_hooks, checkpoint=None),
               visualizer=dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')]))
    runner = Runner.from_cfg(cfg)
    hook = ThroughputHook()
    runner.register_hook(hook, priority='LOWEST')
    runner.test()
    return hook.images / hook.seconds if hook.seconds > 0 else float('nan')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.num_images < 2 * args.batch_size:
        print(f'error: --num-images {args.num_images} gives fewer than 2 batches of {args.batch_size}: the first '
              f'batch is not timed; pass at least {2 * args.batch_size}', file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = os.path.join(tmp, 'images')
            synthetic_jpegs(data, args.num_images)
        try:
            samples = scan_wnid_folder(data)
        except (FileNotFoundError, ValueError) as err:
            print(f'error: {err}', file=sys.stderr)
            return 1
        samples = (samples * (args.num_images // len(samples) + 1))[:args.num_images]
        decodes = ['cpu'] + (['gpu'] if torch.cuda.is_available() else [])
        rates = {decode: images_per_second(samples, decode, args, os.path.join(tmp, 'work')) for decode in decodes}
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'
    print(f'evaluation throughput (mmengine runner, siameseim-test path): {len(samples)} images from '
          f'{args.data or "synthetic 224x224 JPEGs"}, classifier {args.arch}, batch {args.batch_size}, '
          f'{args.workers} workers, GPU: {gpu}, {os.cpu_count()} CPUs')
    print(f'| {"decode":<22} | {"images/s":>10} |')
    print(f'|{"-" * 24}|{"-" * 12}|')
    print(f'| {"CPU (PIL, workers)":<22} | {rates["cpu"]:>10.1f} |')
    gpu_cell = f'{rates["gpu"]:>10.1f}' if 'gpu' in rates else f'{"no CUDA":>10}'
    print(f'| {"GPU (nvJPEG)":<22} | {gpu_cell} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
