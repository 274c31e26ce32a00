"""``python -m siameseim COMMAND ...``: ``train`` and ``test`` (:mod:`siameseim.cli`), ``bench``, ``demo`` and
``report`` (:mod:`siameseim.suite.cli`)."""
import sys

PROGRAMS = {'train': 'siameseim.cli.train', 'test': 'siameseim.cli.test'}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PROGRAMS:
        import importlib
        return importlib.import_module(PROGRAMS[argv[0]]).main(argv[1:])
    from .suite.cli import main as suite_main
    return suite_main(argv)


if __name__ == '__main__':
    sys.exit(main())
