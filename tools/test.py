"""Evaluate a trained checkpoint with its config (COCO/LVIS, ADE20k, ImageNet): see :mod:`siameseim.cli.test`.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE] [--show-dir DIR [--show-max N]]

Installed, the same program is ``siameseim-test`` (or ``python -m siameseim test``).
"""
import sys

from siameseim.cli.test import main

if __name__ == '__main__':
    sys.exit(main())
