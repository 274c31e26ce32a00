"""Train any SiameseIM Suite config (pretraining, COCO/LVIS, ADE20k, ImageNet): see :mod:`siameseim.cli.train`.

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--no-resume] [--cfg-options k=v ...]

Installed, the same program is ``siameseim-train`` (or ``python -m siameseim train``).
"""
import sys

from siameseim.cli.train import main

if __name__ == '__main__':
    sys.exit(main())
