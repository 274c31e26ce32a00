"""Evaluate an ImageNet fine-tuned classifier on ImageNet val, -A, -R, -Sketch and -C.
See :mod:`siameseim.robustness.cli.eval_robustness`.

    python tools/eval_robustness.py CHECKPOINT --data-root data/ --out DIR [--arch vit-b | --config CFG]

Installed, the same program is ``siameseim-eval-robustness``
(or ``python -m siameseim.robustness.cli.eval_robustness``).
"""
import sys

from siameseim.robustness.cli.eval_robustness import main

if __name__ == '__main__':
    sys.exit(main())
