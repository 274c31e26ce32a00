"""Training speed and peak memory of the ViTDet Mask R-CNN, fast path vs slow path.
See :mod:`siameseim.detection.cli.benchmark_detection`.

    python tools/benchmark_detection.py [--config CFG] [--batch-size 8] [--iters 20] [--device cpu --tiny]

Installed, the same program is ``python -m siameseim.detection.cli.benchmark_detection``.
"""
import sys

from siameseim.detection.cli.benchmark_detection import main

if __name__ == '__main__':
    sys.exit(main())
