"""The pretrain task's command-line programs as functions, ``main(argv) -> exit status`` in each module.

``tools/<name>.py`` in a checkout and ``python -m siameseim.pretrain.cli.<name>`` anywhere call them.
"""
