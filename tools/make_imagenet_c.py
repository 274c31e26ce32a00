"""Generate ImageNet-C corruptions of any image folder. See :mod:`siameseim.robustness.cli.make_imagenet_c`.

    python tools/make_imagenet_c.py SRC_FOLDER DST_ROOT [--corruptions fog snow ...] [--severities 1 2 3]

Installed, the same program is ``siameseim-make-imagenet-c``
(or ``python -m siameseim.robustness.cli.make_imagenet_c``).
"""
import sys

from siameseim.robustness.cli.make_imagenet_c import main

if __name__ == '__main__':
    sys.exit(main())
