"""The error type of a bad user input (a file, a label, an option): the command-line tools print its message
as one ``error: ...`` line and exit non-zero, without a traceback."""


class InputError(ValueError):
    """A bad input the user can fix; the message is one line naming the problem and the fix."""


def error_line(err: BaseException) -> str:
    """The message of ``err`` on one line; for an error re-raised from a data-loader worker (whose message
    carries the worker's traceback), the original exception's message."""
    lines = [line for line in str(err).splitlines() if line.strip()]
    last = lines[-1] if lines else type(err).__name__
    return last.split(': ', 1)[1] if len(lines) > 1 and ': ' in last else last
