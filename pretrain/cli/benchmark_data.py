"""Measure the SiameseIM input pipeline in images/s per CPU core: the fast uint8 pipeline against the PIL one.

    python -m siameseim.pretrain.cli.benchmark_data [--config CFG] [--data DIR | --sides 333 640] [--rounds 6]
                                                    [--block 32] [--workers 2]

(also ``python tools/benchmark_data.py`` in a checkout).

Times exactly what training loads — ``PretrainImageFolder`` items with two views, the relative position,
the block mask and ``ids_keep`` — for each pipeline built from the config's dataset (``pil``:
``SiameseTwoViewTransform``; ``fast``: ``FastSiameseTwoViewTransform``; ``fast-full-decode``: the fast one
without reduced JPEG decoding), in one thread (torch and OpenCV single-threaded), alternating blocks of
``--block`` images so that other load on the machine hits every pipeline alike; wall-clock and process CPU
time are both reported, with the load average. Then each pipeline through torch's ``DataLoader`` with
``--workers`` worker processes. Without ``--data`` it generates ImageNet-like JPEGs: sides drawn from
``--sides`` (333–640 px), photo-like content (1/f-style smooth structure plus grain), about 110 KiB each at
quality 90; larger ``--sides`` show what reduced JPEG decoding does for high-resolution folders.
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Dict, List, Optional

import cv2
import numpy as np
import torch
from mmengine.config import Config
from torch.utils.data import DataLoader, default_collate

from siameseim.errors import InputError
from siameseim.packaged_configs import resolve_config
from siameseim.pretrain.data import PretrainImageFolder
from siameseim.pretrain.data.fast_transforms import decode_reduction
from siameseim.pretrain.data.photo_like import write_imagenet_like_jpegs

DEFAULT_CONFIG = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs',
                          'siameseim_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py')
PIPELINES = {
    'pil': dict(type='SiameseTwoViewTransform'),
    'fast': dict(type='FastSiameseTwoViewTransform', reduced_decode=True),
    'fast-full-decode': dict(type='FastSiameseTwoViewTransform', reduced_decode=False),
}


def build_dataset(cfg: Config, root: str, pipeline: str) -> PretrainImageFolder:
    """The config's pretraining dataset on ``root`` with the transform swapped for ``pipeline``."""
    dataset_cfg = cfg.train_dataloader.dataset.to_dict()
    dataset_cfg.pop('type')
    transform = {key: value for key, value in dataset_cfg['transform'].items() if key != 'reduced_decode'}
    dataset_cfg.update(root=root, transform={**transform, **PIPELINES[pipeline]})
    return PretrainImageFolder(**dataset_cfg)


def single_thread_rates(datasets: Dict[str, PretrainImageFolder], rounds: int, block: int) -> Dict[str, dict]:
    """Images/s (wall and CPU) of every dataset in one thread, in alternating blocks of ``block`` items.

    torch's thread count is restored afterwards; OpenCV stays single-threaded (the fast transform sets
    that in every process it runs in).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    totals = {name: dict(wall=0.0, cpu=0.0, images=0) for name in datasets}
    try:
        for dataset in datasets.values():
            dataset[(0, 0)]   # warm-up: imports, allocator, first-call setup
        position = 0
        for _ in range(rounds):
            for name, dataset in datasets.items():
                wall, cpu = time.perf_counter(), time.process_time()
                for index in range(position, position + block):
                    dataset[(0, index % len(dataset))]
                totals[name]['wall'] += time.perf_counter() - wall
                totals[name]['cpu'] += time.process_time() - cpu
                totals[name]['images'] += block
            position += block
    finally:
        torch.set_num_threads(threads)
    return {name: dict(wall=t['images'] / t['wall'], cpu=t['images'] / t['cpu']) for name, t in totals.items()}


def loader_rate(dataset: PretrainImageFolder, workers: int, images: int, batch_size: int) -> float:
    """Images/s through a ``DataLoader`` with ``workers`` processes, after the first batch (worker start-up)."""
    pairs = [(0, index % len(dataset)) for index in range(images + batch_size)]
    loader = DataLoader(dataset, batch_size=batch_size, sampler=pairs, num_workers=workers,
                        collate_fn=default_collate)
    iterator = iter(loader)
    next(iterator)
    start = time.perf_counter()
    count = sum(batch['view1'].shape[0] for batch in iterator)
    return count / (time.perf_counter() - start)


def reduced_fraction(dataset: PretrainImageFolder, items: int) -> float:
    """Share of items whose two crops allow a reduced JPEG decode (both crops ≥ 2× the input size)."""
    transform = dataset.transform
    hits = 0
    for index in range(items):
        image = dataset.load_image(index % len(dataset))
        geometries = transform.sample_geometry(image.height, image.width, np.random.default_rng([1, index]))
        hits += decode_reduction(geometries, transform.input_size) > 1
    return hits / items


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='pretraining config (default: ViT-B release)')
    parser.add_argument('--data', help='image folder to read (default: generated ImageNet-like JPEGs)')
    parser.add_argument('--num-images', type=int, default=64, help='JPEGs to generate')
    parser.add_argument('--sides', type=int, nargs=2, default=[333, 640], metavar=('MIN', 'MAX'),
                        help='range of the generated images\' heights and widths in pixels')
    parser.add_argument('--pipelines', nargs='+', choices=sorted(PIPELINES), default=list(PIPELINES))
    parser.add_argument('--rounds', type=int, default=6, help='alternation rounds of the one-thread measurement')
    parser.add_argument('--block', type=int, default=32, help='items per pipeline and round')
    parser.add_argument('--workers', type=int, default=2, help='DataLoader workers (0 skips the loader figure)')
    parser.add_argument('--loader-images', type=int, default=512, help='images per DataLoader measurement')
    parser.add_argument('--batch-size', type=int, default=32)
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> Optional[str]:
    """The first problem with the arguments, as one line, or ``None``; resolves a packaged ``--config``."""
    try:
        args.config = resolve_config(args.config)
    except InputError as err:
        return str(err)
    if args.data is not None and not osp.isdir(args.data):
        return f'--data {args.data} is not a directory'
    for name in ('num_images', 'rounds', 'block', 'loader_images', 'batch_size'):
        if getattr(args, name) < 1:
            return f'--{name.replace("_", "-")} must be at least 1'
    if args.workers < 0:
        return '--workers must be 0 or more'
    if not 16 <= args.sides[0] <= args.sides[1]:
        return f'--sides needs 16 <= MIN <= MAX, got {args.sides[0]} {args.sides[1]}'
    return None


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    problem = check_args(args)
    if problem:
        print(f'error: {problem}', file=sys.stderr)
        return 2
    cfg = Config.fromfile(args.config)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data
        if root is None:
            paths = write_imagenet_like_jpegs(tmp, args.num_images, sides=args.sides)
            sizes = [osp.getsize(path) / 1024 for path in paths]
            print(f'data: {len(paths)} generated photo-like JPEGs, sides {args.sides[0]}-{args.sides[1]} px, '
                  f'mean {np.mean(sizes):.0f} KiB (min {min(sizes):.0f}, max {max(sizes):.0f})')
            root = tmp
        datasets = {name: build_dataset(cfg, root, name) for name in args.pipelines}
        if root == args.data:
            print(f'data: {len(next(iter(datasets.values())))} images under {root}')
        print(f'load average before: {" ".join(f"{x:.2f}" for x in os.getloadavg())} on {os.cpu_count()} CPUs')
        rates = single_thread_rates(datasets, args.rounds, args.block)
        load = os.getloadavg()
        reference = rates.get('pil')
        for name, rate in rates.items():
            ratio = (f'; x{rate["wall"] / reference["wall"]:.2f} wall, x{rate["cpu"] / reference["cpu"]:.2f} CPU '
                     f'vs pil' if reference and name != 'pil' else '')
            print(f'{name}: {rate["wall"]:.1f} images/s wall, {rate["cpu"]:.1f} images/s per CPU-second '
                  f'(one thread){ratio}')
        if 'fast' in datasets:
            print(f'reduced JPEG decode applies to {reduced_fraction(datasets["fast"], 1000):.1%} of items')
        print(f'load average after: {" ".join(f"{x:.2f}" for x in load)}')
        if args.workers:
            loader = {name: loader_rate(dataset, args.workers, args.loader_images, args.batch_size)
                      for name, dataset in datasets.items()}
            print(f'DataLoader, {args.workers} worker processes: ' + '; '.join(f'{name} {rate:.1f} images/s'
                                                                       for name, rate in loader.items())
                  + (f'; fast/pil x{loader["fast"] / loader["pil"]:.2f}' if {'fast', 'pil'} <= set(loader) else ''))
            print(f'load average after the loaders: {" ".join(f"{x:.2f}" for x in os.getloadavg())}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
