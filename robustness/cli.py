"""Shared command-line helper: every bad input ends as one ``error: ...`` line."""


def error_line(err: BaseException) -> str:
    """The message of ``err`` on one line; for an error re-raised from a data-loader worker (whose message
    carries the worker's traceback), the original exception's message."""
    lines = [line for line in str(err).splitlines() if line.strip()]
    last = lines[-1] if lines else type(err).__name__
    return last.split(': ', 1)[1] if len(lines) > 1 and ': ' in last else last
