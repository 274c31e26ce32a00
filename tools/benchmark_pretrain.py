"""Measure SiameseIM pretraining speed (img/s, step time, peak memory, MFU) against a slow baseline.
See :mod:`siameseim.pretrain.cli.benchmark_pretrain`.

    python tools/benchmark_pretrain.py [--config CFG] [--batch-sizes 64 128] [--dtype bfloat16] [--compile]

Installed, the same program is ``python -m siameseim.pretrain.cli.benchmark_pretrain``.
"""
import sys

from siameseim.pretrain.cli.benchmark_pretrain import main

if __name__ == '__main__':
    sys.exit(main())
