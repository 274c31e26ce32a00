"""Atomic file writes: a reader (or a resumed run) sees the old file or the complete new one, never a part.

The content goes to a temporary file in the target's folder (same file system, so the rename is atomic), is
flushed to disk with ``fsync``, renamed over the target with ``os.replace``, and the folder entry is flushed
too. A failure (full disk, an exception) removes the temporary file and leaves the target untouched; a kill
leaves at most a stale ``.<name>.<random>.partial`` file, which :func:`remove_stale_temporaries` deletes.
"""
import os
import re
import tempfile
from typing import Any, Callable, List

__all__ = ['TEMPORARY_SUFFIX', 'temporary_path', 'atomic_write', 'save_atomically', 'write_text_atomically',
           'remove_stale_temporaries']

TEMPORARY_SUFFIX = '.partial'
_TEMPORARY = re.compile(r'^\..+\.[A-Za-z0-9_]+' + re.escape(TEMPORARY_SUFFIX) + '$')


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temporary_path(path: str) -> str:
    """A new empty file next to ``path`` (``.<name>.<random>.partial``) to write the content into, with the
    permissions a plain ``open(path, 'w')`` would give (mkstemp's are owner-only)."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f'.{os.path.basename(path)}.',
                                         suffix=TEMPORARY_SUFFIX)
    os.close(handle)
    os.chmod(temporary, 0o666 & ~_umask())
    return temporary


def _fsync_path(path: str, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, 'O_DIRECTORY', 0) if directory else 0)
    try:
        handle = os.open(path, flags)
    except OSError:
        if directory:  # folders cannot be opened on some platforms (Windows): the rename is still atomic
            return
        raise
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def atomic_write(path: str, write: Callable[[str], Any]) -> None:
    """``write(temporary)`` then fsync and rename over ``path``: ``path`` is never half-written.

    ``write`` receives the temporary file's path and must leave the complete content there.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f'folder {folder} does not exist: create it first')
    temporary = temporary_path(path)
    try:
        write(temporary)
        _fsync_path(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    _fsync_path(folder, directory=True)


def save_atomically(obj: Any, path: str) -> None:
    """``torch.save(obj, path)``, atomically."""
    import torch

    atomic_write(path, lambda temporary: torch.save(obj, temporary))


def write_text_atomically(path: str, text: str) -> None:
    """Write a small text file (such as mmengine's ``last_checkpoint`` pointer) atomically."""
    def write(temporary: str) -> None:
        with open(temporary, 'w') as file:
            file.write(text)

    atomic_write(path, write)


def remove_stale_temporaries(folder: str) -> List[str]:
    """Delete the ``.<name>.<random>.partial`` files a killed :func:`atomic_write` left in ``folder``.

    Call it only where no other process writes at the same time (a run's own work dir at start). Returns the
    deleted paths.
    """
    if not os.path.isdir(folder):
        return []
    removed = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if _TEMPORARY.match(name) and os.path.isfile(path):
            os.unlink(path)
            removed.append(path)
    return removed
