"""Measure the SiameseIM input pipeline in images/s per CPU core. See :mod:`siameseim.pretrain.cli.benchmark_data`.

    python tools/benchmark_data.py [--config CFG] [--data DIR | --sides 333 640] [--workers 2]

Installed, the same program is ``python -m siameseim.pretrain.cli.benchmark_data``.
"""
import sys

from siameseim.pretrain.cli.benchmark_data import main

if __name__ == '__main__':
    sys.exit(main())
