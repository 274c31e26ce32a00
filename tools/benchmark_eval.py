"""Evaluation throughput: images/s with CPU (PIL, worker processes) and GPU (nvJPEG) JPEG decoding, side by side.

    python tools/benchmark_eval.py [--data FOLDER] [--num-images 2048] [--batch-size 256] [--workers 8]
        [--device cuda] [--arch vit-b | --arch none] [--input-size 224] [--no-resize] [--amp]

``--data`` is a ``<wnid>/<image>`` folder (e.g. one ImageNet-C severity, or ImageNet val); without it,
synthetic 224² JPEGs (quality 85, like ImageNet-C files) are written to a temporary folder. Each path runs
the full evaluation loop of ``tools/eval_robustness.py`` (loader, decode, transform, host→device copy, model
forward; ``--arch none`` measures the input pipeline alone) once to warm up and once timed. The GPU path
runs only when CUDA is available. Record the figures in ``docs/benchmarks.md`` with the machine's GPU, CPU
count and the command line.
"""
import argparse
import os
import sys
import tempfile
import time
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image

from robustness.datasets import scan_wnid_folder
from robustness.loading import iterate_batches
from robustness.models import ImageClassifier
from robustness.toy import toy_wnids
from robustness.transforms import EvalTransform
from siameseim.cli_checks import positive_int


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', help='<wnid>/<image> folder to read (default: synthetic 224x224 JPEGs)')
    parser.add_argument('--num-images', type=positive_int, default=2048, help='images per timed pass')
    parser.add_argument('--batch-size', type=positive_int, default=256)
    parser.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--arch', default='vit-b', help="model in the loop ('none': input pipeline only)")
    parser.add_argument('--input-size', type=positive_int, default=224)
    parser.add_argument('--no-resize', action='store_true', help='centre crop only (ImageNet-C files)')
    parser.add_argument('--amp', action='store_true', help='fp16 autocast for the model on CUDA')
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


def timed_pass(model: Optional[torch.nn.Module], samples: Sequence[Tuple[str, int]], decode: str,
               args: argparse.Namespace, resize: Optional[int]) -> float:
    """Images/s of one full evaluation pass over ``samples``."""
    device = torch.device(args.device)
    transform = EvalTransform(crop_size=args.input_size, resize=resize)
    start = time.perf_counter()
    count = 0
    with torch.no_grad():
        for images, labels in iterate_batches(samples, transform, decode=decode, device=device,
                                              batch_size=args.batch_size, num_workers=args.workers,
                                              crop_size=args.input_size, resize=resize):
            if model is not None:
                with torch.autocast(device.type, enabled=args.amp and device.type == 'cuda'):
                    logits = model(images)
                logits.float().argmax(1).cpu()
            else:
                images.sum().item()
            count += len(labels)
    if device.type == 'cuda':
        torch.cuda.synchronize()
    return count / (time.perf_counter() - start)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    resize = None if args.no_resize else round(args.input_size * 256 / 224)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = tmp
            synthetic_jpegs(data, args.num_images)
        try:
            samples = scan_wnid_folder(data)
        except (FileNotFoundError, ValueError) as err:
            print(f'error: {err}', file=sys.stderr)
            return 1
        samples = (samples * (args.num_images // len(samples) + 1))[:args.num_images]
        model = None
        if args.arch != 'none':
            model = ImageClassifier(dict(arch=args.arch, global_pool='avg', final_norm=False,
                                         img_size=args.input_size)).to(args.device).eval()
        paths = ['cpu'] + (['gpu'] if args.device.startswith('cuda') and torch.cuda.is_available() else [])
        rates = {}
        for decode in paths:
            timed_pass(model, samples[:args.batch_size * 2], decode, args, resize)  # warm-up
            rates[decode] = timed_pass(model, samples, decode, args, resize)
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'
    print(f'evaluation throughput: {len(samples)} images from {args.data or "synthetic 224x224 JPEGs"}, '
          f'model {args.arch}, batch {args.batch_size}, {args.workers} workers, device {args.device} (GPU: {gpu}), '
          f'{os.cpu_count()} CPUs')
    print(f'| {"decode":<22} | {"images/s":>10} |')
    print(f'|{"-" * 24}|{"-" * 12}|')
    print(f'| {"CPU (PIL, workers)":<22} | {rates["cpu"]:>10.1f} |')
    gpu_cell = f'{rates["gpu"]:>10.1f}' if 'gpu' in rates else f'{"no CUDA":>10}'
    print(f'| {"GPU (nvJPEG)":<22} | {gpu_cell} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
