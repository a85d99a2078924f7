"""The crash-safe session record: an append-only JSON Lines journal.

One line per event, in the wire format of :mod:`captioner.delivery.wire` (so ``emitted_at``
already carries the wall-clock time). Only committed captions and selected status
events (:data:`JOURNALED_STATES`) belong in it; partial captions never do.

Durability policy:

* every line goes to the kernel at once, in a single ``os.write`` on an ``O_APPEND``
  descriptor, before :meth:`Journal.append` returns. A killed process (``kill -9``,
  a crash, an OOM kill) therefore loses nothing: the kernel already holds the line.
* ``os.fsync`` runs when the last one is older than :data:`FSYNC_INTERVAL_S` at the
  time of a write, and on :meth:`Journal.sync`, :meth:`Journal.flush` and
  :meth:`Journal.close`. With the caller calling ``sync()`` at least every 0.5 s, a
  power loss loses at most the last second of lines.
* a write that fails (disk full, quota, file size limit, I/O error) never raises into
  the caller: the line waits in a bounded in-memory backlog, is retried on the next
  ``append``/``sync``, and :attr:`Journal.healthy`/:attr:`Journal.error` say what is
  wrong so that an operator status event can show it.

A process killed in the middle of a write can at worst leave a last line without its
newline (a *torn tail*). :func:`captioner.record.journal_read.read_journal` skips it
with a warning, and :meth:`Journal.open_existing` cuts it off (keeping a copy) before
appending.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from captioner.delivery.wire import encode
from captioner.errors import CaptionerError
from captioner.events import Caption, Status
from captioner.files import fsync_dir
from captioner.record.journal_read import JournalRead, read_journal
from captioner.states import JOURNALED

log = logging.getLogger(__name__)

JOURNAL_NAME = "journal.jsonl"

# How old the last fsync may be when a line is written before we fsync again. Together
# with the caller's periodic sync() this bounds the loss on power failure to ~1 s.
FSYNC_INTERVAL_S = 0.5

# Lines that could not be written wait in memory up to this size; a full disk for a
# whole day of captions is ~10 MB, so this only trips when something is badly wrong.
MAX_BACKLOG_BYTES = 16 * 1024 * 1024

# Status states that are part of the session record (the rest, like ``levels``, are
# live-only measurements): the table of every state is captioner.states.
JOURNALED_STATES = JOURNALED

_DISK_ERRORS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file size limit reached",
    errno.EIO: "disk I/O error",
    errno.EROFS: "disk is read-only",
}


def is_journaled(event: Caption | Status) -> bool:
    """Whether an event belongs in the session record.

    Committed captions do; partial captions do not; statuses do when their state is in
    :data:`JOURNALED_STATES`.
    """
    if isinstance(event, Caption):
        return event.final
    return event.state in JOURNALED_STATES


def describe_os_error(exc: OSError) -> str:
    """A short operator-facing description, e.g. ``disk full (No space left on device)``."""
    what = _DISK_ERRORS.get(exc.errno or 0)
    why = exc.strerror or str(exc) or type(exc).__name__
    return f"{what} ({why})" if what else why


class Journal:
    """Append-only JSON Lines writer for the session record.

    Thread-safe: any thread may call :meth:`append` and :meth:`sync`. A call may run an
    ``fsync`` (milliseconds on a busy disk), so the pipeline calls it from a writer
    thread or executor, not on the event loop.

    Args:
        path: The journal file. It is created if missing and must be empty: use
            :meth:`open_existing` to continue a journal that already has lines.
        fsync_interval_s: Longest age of the last fsync when a line is written.
        max_backlog_bytes: Memory allowed for lines waiting for disk space; lines past
            it are dropped and counted in :attr:`dropped`.
        clock: Monotonic clock in seconds (tests pass a fake one).

    Raises:
        CaptionerError: the file cannot be opened, or is not empty.
    """

    def __init__(self, path: str | Path, *, fsync_interval_s: float = FSYNC_INTERVAL_S,
                 max_backlog_bytes: int = MAX_BACKLOG_BYTES,
                 clock: Callable[[], float] = time.monotonic,
                 _resumed: JournalRead | None = None) -> None:
        self.path = Path(path)
        self._fsync_interval_s = fsync_interval_s
        self._max_backlog_bytes = max_backlog_bytes
        self._clock = clock
        self._write_lock = threading.Lock()  # protects the fd, backlog and counters
        self._backlog: deque[bytes] = deque()
        self._backlog_bytes = 0
        self._unsynced = False
        self._error: str | None = None
        self._sync_failed = False
        self.dropped = 0
        self.resumed_from = _resumed
        self.last_seq: int | None = _resumed.last_seq if _resumed else None
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                               0o644)
        except OSError as exc:
            raise CaptionerError(f"{self.path}: cannot open the journal "
                                 f"({describe_os_error(exc)})") from None
        self._closed = False
        self._size = os.fstat(self._fd).st_size
        if self._size and _resumed is None:
            # Appending after someone else's lines (maybe after a torn tail) would
            # corrupt them: resuming goes through open_existing, which repairs first.
            os.close(self._fd)
            self._closed = True
            raise CaptionerError(f"{self.path}: journal already has lines",
                                 hint="resume it with Journal.open_existing()")
        try:
            fsync_dir(self.path.parent)  # the new file's entry in its folder
        except OSError as exc:
            os.close(self._fd)
            self._closed = True
            raise CaptionerError(f"{self.path}: cannot open the journal "
                                 f"({describe_os_error(exc)})") from None
        self._last_fsync = clock()

    @classmethod
    def open_existing(cls, path: str | Path, **kwargs: Any) -> Journal:
        """Opens a journal to append to it, for resuming a session.

        A torn last line is cut off first; its bytes are kept next to the journal in
        ``<name>.torn-<YYYYmmddTHHMMSS>``. A missing or empty file starts a new journal.
        :attr:`last_seq` is the highest committed ``seq`` found, so the session can
        continue numbering; :attr:`resumed_from` holds what was read.

        Args:
            path: The journal file.
            **kwargs: As for :class:`Journal`.

        Raises:
            CaptionerError: the file cannot be read, repaired or opened.
        """
        path = Path(path)
        if not (path.exists() and path.stat().st_size):
            return cls(path, **kwargs)
        read = read_journal(path)
        try:
            _repair_tail(path, read)
        except OSError as exc:
            raise CaptionerError(f"{path}: cannot repair the journal's last line "
                                 f"({describe_os_error(exc)})") from None
        return cls(path, _resumed=read, **kwargs)

    # -- state ------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """True when every waiting line reached the kernel and the last fsync worked.

        Lines dropped because the backlog overflowed do not keep it False: they are
        counted in :attr:`dropped`.
        """
        with self._write_lock:
            return not self._backlog and not self._sync_failed

    @property
    def error(self) -> str | None:
        """The last write or fsync error, for an operator status; ``None`` once recovered."""
        with self._write_lock:
            if self._error and self.dropped:
                return f"{self._error}; {self.dropped} lines dropped (backlog full)"
            return self._error

    @property
    def pending(self) -> int:
        """Lines waiting in memory for the disk."""
        with self._write_lock:
            return len(self._backlog)

    # -- writing ----------------------------------------------------------------------

    def append(self, event: Caption | Status) -> bool:
        """Writes one event as a line; never raises for disk trouble.

        Args:
            event: A committed caption or a status.

        Returns:
            True when this line (and every earlier one) reached the kernel; False when
            it waits in the backlog (see :attr:`error`) or was dropped.

        Raises:
            ValueError: ``event`` is a partial caption (not part of the record), or the
                journal is closed. Both are programming errors.
        """
        if isinstance(event, Caption) and not event.final:
            raise ValueError("partial captions are not journaled")
        line = (encode(event) + "\n").encode("utf-8")
        with self._write_lock:
            if self._closed:
                raise ValueError(f"{self.path}: journal is closed")
            if isinstance(event, Caption) and event.seq is not None:
                self.last_seq = event.seq if self.last_seq is None else max(self.last_seq,
                                                                           event.seq)
            if self._backlog_bytes + len(line) > self._max_backlog_bytes:
                self._drain()  # space may have come back
            if self._backlog_bytes + len(line) > self._max_backlog_bytes:
                # Memory is bounded: the oldest waiting lines are kept, so that the file
                # stays in order and the gap shows as missing seq numbers.
                self.dropped += 1
                if self.dropped % 100 == 1:
                    log.error("%s: backlog full, dropped %d lines so far", self.path,
                              self.dropped)
                return False
            self._backlog.append(line)
            self._backlog_bytes += len(line)
            ok = self._drain()
            if ok and self._clock() - self._last_fsync >= self._fsync_interval_s:
                self._fsync()
            return ok

    def sync(self) -> bool:
        """Retries waiting lines and fsyncs; the caller runs this every ~0.5 s.

        Returns:
            :attr:`healthy`, computed after the attempt.
        """
        with self._write_lock:
            if self._closed:
                return not self._backlog
            self._drain()
            if self._unsynced or self._sync_failed:
                self._fsync()
            return not self._backlog and not self._sync_failed

    def flush(self) -> bool:
        """Same as :meth:`sync`: written lines reach the disk before it returns."""
        return self.sync()

    def close(self) -> bool:
        """Syncs and closes; idempotent.

        Returns:
            False when lines were still waiting for disk space and are lost.
        """
        ok = self.sync()
        with self._write_lock:
            if self._closed:
                return ok
            if self._backlog:
                log.error("%s: closed with %d lines that could not be written (%s)",
                          self.path, len(self._backlog), self._error)
            self._closed = True
            os.close(self._fd)
        return ok

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- internals (called with _write_lock held) -------------------------------------

    def _drain(self) -> bool:
        """Writes waiting lines in order; True when none is left."""
        had_error = self._error is not None
        while self._backlog:
            line = self._backlog[0]
            try:
                self._write_line(line)
            except OSError as exc:
                message = f"journal {self.path}: {describe_os_error(exc)}"
                if message != self._error:
                    log.error("%s; %d lines wait in memory", message, len(self._backlog))
                self._error = message
                return False
            self._backlog.popleft()
            self._backlog_bytes -= len(line)
            self._unsynced = True
        if had_error and not self._sync_failed:
            log.warning("journal %s: writing again, the backlog is on disk%s", self.path,
                        f" ({self.dropped} lines were lost)" if self.dropped else "")
            self._error = None
        return True

    def _write_line(self, line: bytes) -> None:
        """One whole line or nothing: a short write (disk filling up) is undone."""
        written = os.write(self._fd, line)
        if written == len(line):
            self._size += written
            return
        try:
            # The rest usually fails with the real error (ENOSPC); if it does not, the
            # line is complete after all.
            rest = os.write(self._fd, line[written:])
            if written + rest == len(line):
                self._size += len(line)
                return
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            # Cut the partial line off so that the file stays one JSON object per line.
            os.ftruncate(self._fd, self._size)
            raise

    def _fsync(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError as exc:
            self._sync_failed = True
            self._error = f"journal {self.path}: fsync failed: {describe_os_error(exc)}"
            log.error("%s", self._error)
            return
        if self._sync_failed:
            self._sync_failed = False
            if not self._backlog:
                self._error = None
        self._unsynced = False
        self._last_fsync = self._clock()


def _repair_tail(path: Path, read: JournalRead) -> None:
    """Makes the file end with a newline after its last good line, saving torn bytes."""
    with path.open("r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        if read.torn_tail and read.valid_size < size:
            fh.seek(read.valid_size)
            torn = fh.read()
            keep = _torn_copy_path(path)
            keep.write_bytes(torn)
            log.warning("%s: cut off a torn last line of %d bytes (kept in %s)", path,
                        len(torn), keep.name)
            fh.truncate(read.valid_size)
            size = read.valid_size
        if size:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                fh.seek(0, os.SEEK_END)
                fh.write(b"\n")
        fh.flush()
        os.fsync(fh.fileno())


def _torn_copy_path(path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    candidate = path.with_name(f"{path.name}.torn-{stamp}")
    n = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.torn-{stamp}-{n}")
        n += 1
    return candidate


