"""Atomic file writes: a crash or error leaves either the old file or the new one, whole.
In a run of several processes (``nnkit.distributed``) only process 0 writes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ..backends import processes


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder, fsync, os.replace.

    The bytes go out with ``os.write`` on the temporary file's descriptor (short writes are
    continued); the new file gets the usual permissions (0666 less the umask). On any error
    the temporary file is removed and ``path`` keeps its previous content. Processes other
    than 0 of a multi-process run write nothing: they hold the same data.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    data : bytes
        Its whole content.

    Raises
    ------
    OSError
        The file cannot be written.
    """
    if processes.index() != 0:
        return
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable where the OS allows it
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
