"""Durable file writes: an atomic replace and a folder fsync, with one error policy.

A file written with :func:`atomic_write_bytes` or :func:`atomic_write_text` is never
seen half-written, not even after a crash or a power cut: the data goes to a
temporary file next to it (``.<name>.tmp-<pid>``), is fsynced, renamed over the
target with ``os.replace`` and the folder is fsynced so that the rename itself is on
disk.

Error policy, the same for every caller:

* :func:`fsync_dir` is best effort only where the filesystem says it cannot sync a
  folder at all (``EINVAL``, ``ENOTSUP``/``EOPNOTSUPP``: some network and FUSE
  filesystems). That is not a failure of this write, and there is nothing better to
  do, so it is logged at debug level and ignored.
* Every other ``OSError`` (a missing or unreadable folder, ``EIO``, a full disk...)
  propagates. Callers already turn an ``OSError`` into an error that names the file
  (a :class:`~captioner.errors.CaptionerError`, a failed result, a status), so a
  failing disk is reported, never silently taken for a durable write.
* A failed atomic write removes its temporary file and leaves the target as it was.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

#: ``errno`` values with which a filesystem refuses to fsync a folder: ignored.
UNSUPPORTED_DIR_FSYNC = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})


def fsync_dir(folder: str | Path) -> None:
    """Makes the entries of ``folder`` durable (a file created or renamed in it).

    Args:
        folder: The folder whose entries changed.

    Raises:
        OSError: the folder cannot be opened or synced, except where the filesystem
            does not support syncing a folder (see the module's error policy).
    """
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in UNSUPPORTED_DIR_FSYNC:
            raise
        log.debug("%s: this filesystem cannot fsync a folder (%s); skipped", folder, exc)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replaces ``path`` with ``data`` atomically and durably.

    Args:
        path: The file to write; its folder must exist.
        data: The whole new contents.

    Raises:
        OSError: the data could not be written, synced or renamed into place (the
            target is unchanged and the temporary file removed), or the folder could
            not be synced afterwards (the new contents are in place).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Replaces ``path`` with ``text`` atomically and durably; see :func:`atomic_write_bytes`.

    Args:
        path: The file to write; its folder must exist.
        text: The whole new contents, written as is (no newline translation).
        encoding: The text encoding.

    Raises:
        OSError: as :func:`atomic_write_bytes`.
    """
    atomic_write_bytes(path, text.encode(encoding))
