"""One suite run per output folder: a lock file ``<out>/suite.lock`` holding the owner's host and pid.

Two runs on the same ``--out`` would interleave their writes to ``results.json`` and the per-task work dirs.
The lock is created with ``O_CREAT | O_EXCL`` (atomic, also on NFS v3+). A lock left by a process that died
(``kill -9``, a crashed node) is taken over when its owner is on this host and no longer runs; the owner of
a lock on another host cannot be checked, so the message names the file to remove.
"""
import contextlib
import os
import os.path as osp
import socket
from typing import Callable, Iterator, Optional, Tuple

LOCK_FILE = 'suite.lock'


class SuiteLockedError(RuntimeError):
    """Another suite run holds the output folder; the message is one line naming it and the fix."""


def _owner(path: str) -> Optional[Tuple[str, int]]:
    """``(host, pid)`` written in the lock file, or None when it is unreadable (being written or truncated)."""
    try:
        with open(path) as f:
            host, pid = f.read().split()
        return host, int(pid)
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _try_create(path: str) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, 'w') as f:
        f.write(f'{socket.gethostname()} {os.getpid()}\n')
    return True


@contextlib.contextmanager
def output_lock(out_dir: str, log: Callable[[str], None] = print) -> Iterator[str]:
    """Hold ``<out_dir>/suite.lock`` for the duration of the block; raise :class:`SuiteLockedError` when another
    live run holds it. A stale lock (dead owner on this host) is replaced, with one log line."""
    path = osp.join(out_dir, LOCK_FILE)
    host = socket.gethostname()
    for _ in range(2):
        if _try_create(path):
            break
        owner = _owner(path)
        if owner is not None and owner[0] == host and not _alive(owner[1]):
            log(f'[suite] {path} was left by process {owner[1]}, which no longer runs: taking it over')
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            continue
        who = f'process {owner[1]} on {owner[0]}' if owner else 'another run'
        raise SuiteLockedError(f'{out_dir} is in use by {who} ({path}): wait for it to finish or choose another '
                               f'--out; if no run is active, delete {path}')
    else:
        raise SuiteLockedError(f'{out_dir} is in use by another run that took {path} just now: choose another --out')
    try:
        yield path
    finally:
        if _owner(path) == (host, os.getpid()):
            os.remove(path)
