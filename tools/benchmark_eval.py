"""Evaluation throughput of the runner path with CPU and GPU JPEG decoding.
See :mod:`siameseim.robustness.cli.benchmark_eval`.

    python tools/benchmark_eval.py [--data FOLDER] [--num-images 2048] [--batch-size 256] [--workers 8]

Installed, the same program is ``python -m siameseim.robustness.cli.benchmark_eval``.
"""
import sys

from siameseim.robustness.cli.benchmark_eval import main

if __name__ == '__main__':
    sys.exit(main())
