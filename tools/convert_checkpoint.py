"""Convert a ViT checkpoint of any supported format into the suite's own format: see
:mod:`siameseim.cli.convert_checkpoint`.

    python tools/convert_checkpoint.py INPUT OUTPUT [--arch vit-b] [--keep-head] [--img-size 512]

Installed, the same program is ``siameseim-convert``.
"""
import sys

from siameseim.cli.convert_checkpoint import main

if __name__ == '__main__':
    sys.exit(main())
