"""The error type of a bad user input (a file, a label, an option): the command-line tools print its message
as one ``error: ...`` line and exit non-zero, without a traceback."""


class InputError(ValueError):
    """A bad input the user can fix; the message is one line naming the problem and the fix."""
