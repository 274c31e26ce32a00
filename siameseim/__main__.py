"""``python -m siameseim COMMAND ...``: ``train``, ``test`` and ``convert`` (:mod:`siameseim.cli`), ``bench``,
``demo`` and ``report`` (:mod:`siameseim.suite.cli`)."""
import sys

PROGRAMS = {'train': 'siameseim.cli.train', 'test': 'siameseim.cli.test', 'convert': 'siameseim.cli.convert_checkpoint'}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PROGRAMS:
        import importlib
        # The programs' usage lines name themselves after sys.argv[0]: 'python -m siameseim train', not '__main__.py'.
        sys.argv[0] = f'python -m siameseim {argv[0]}'
        return importlib.import_module(PROGRAMS[argv[0]]).main(argv[1:])
    from .suite.cli import main as suite_main
    return suite_main(argv)


if __name__ == '__main__':
    sys.exit(main())
