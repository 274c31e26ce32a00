"""Benchmark checkpoints on every task and build the paper-style table (same as ``python -m siameseim bench``).

    python tools/benchmark.py --checkpoint ours=sim.pth --checkpoint mae=mae.pth --data-root data --baseline mae
"""
import sys

from siameseim.suite.cli import main

if __name__ == '__main__':
    sys.exit(main(['bench', *sys.argv[1:]]))
