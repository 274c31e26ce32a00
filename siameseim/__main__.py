"""``python -m siameseim bench ...`` and ``python -m siameseim demo``: see :mod:`siameseim.suite.cli`."""
import sys

from .suite.cli import main

sys.exit(main())
