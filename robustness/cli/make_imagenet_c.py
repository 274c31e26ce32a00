"""Generate ImageNet-C corruptions of any image folder, in ImageNet-C's tree layout.

    siameseim-make-imagenet-c SRC_FOLDER DST_ROOT [--corruptions fog snow ...] [--severities 1 2 3 4 5]
        [--workers 8] [--seed 0] [--frost-textures DIR]

(also ``python tools/make_imagenet_c.py`` in a checkout).

Writes ``DST_ROOT/<corruption>/<severity>/<relative path of each image>`` (Resize 256 → CenterCrop 224 →
corruption → JPEG quality 85). Re-running skips files that exist. For reported numbers, score the released
ImageNet-C files: generated images follow the original parameters but are not the released pixels, and
motion blur, snow and (without ``--frost-textures``) frost differ in implementation (see
``robustness/imagenet_c/corruptions.py``).
"""
import argparse
import os
import sys
import time
from typing import List, Optional

from siameseim.errors import error_line
from siameseim.robustness.datasets import CorruptImageError
from siameseim.robustness.imagenet_c import corrupt_folder
from siameseim.robustness.metrics.mce import CORRUPTIONS, SEVERITIES


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='image folder, e.g. data/imagenet/val (wnid sub-folders are kept)')
    parser.add_argument('dst', help='output root, e.g. data/imagenet-c')
    parser.add_argument('--corruptions', nargs='+', default=list(CORRUPTIONS), metavar='NAME',
                        help=f'subset of: {" ".join(CORRUPTIONS)} (default all 15)')
    parser.add_argument('--severities', nargs='+', type=int, default=list(SEVERITIES), metavar='S',
                        help='subset of 1 2 3 4 5 (default all)')
    parser.add_argument('--workers', type=int, default=os.cpu_count() or 1, help='processes (0: in this process)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--frost-textures', help="folder with the original frost1.png … frost6.jpg")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total or now - last[0] > 10:
            last[0] = now
            print(f'{done}/{total} source images ({now - start:.0f} s)', flush=True)

    try:
        written = corrupt_folder(args.src, args.dst, args.corruptions, args.severities, seed=args.seed,
                                 workers=args.workers, frost_textures=args.frost_textures, progress=progress)
    except (CorruptImageError, FileNotFoundError, ValueError) as err:
        print(f'error: {error_line(err)}', file=sys.stderr)
        return 1
    print(f'wrote {written} images under {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
