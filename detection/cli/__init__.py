"""The detection task's command-line programs as functions, ``main(argv) -> exit status`` in each module.

``tools/<name>.py`` in a checkout and ``python -m siameseim.detection.cli.<name>`` anywhere call them.
"""
