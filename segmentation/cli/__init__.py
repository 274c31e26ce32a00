"""The segmentation task's command-line programs as functions, ``main(argv) -> exit status`` in each module.

``tools/<name>.py`` in a checkout and ``python -m siameseim.segmentation.cli.<name>`` anywhere call them.
"""
