"""The project's command-line programs as functions: ``main(argv) -> exit status`` in each module.

``tools/<name>.py`` in the checkout, the ``siameseim-<name>`` console scripts and ``python -m siameseim <name>``
all call these, so a wheel install has every command without the checkout.
"""
