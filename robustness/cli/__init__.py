"""The robustness task's command-line programs as functions, ``main(argv) -> exit status`` in each module.

``tools/<name>.py`` in a checkout and ``python -m siameseim.robustness.cli.<name>`` anywhere call them.
"""
