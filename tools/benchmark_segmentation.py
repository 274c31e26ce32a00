"""ADE20k UperNet training speed and memory against mmseg's MAE UperNet.
See :mod:`siameseim.segmentation.cli.benchmark_segmentation`.

    python tools/benchmark_segmentation.py [--batch-size 16] [--dtype float16] [--iters 20] [--device cpu --tiny]

Installed, the same program is ``python -m siameseim.segmentation.cli.benchmark_segmentation``.
"""
import sys

from siameseim.segmentation.cli.benchmark_segmentation import main

if __name__ == '__main__':
    sys.exit(main())
