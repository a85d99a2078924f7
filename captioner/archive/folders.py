"""A room's record in the archive: which session folder is current, each event once.

Layout: ``<root>/<room>/<session folder>/`` with ``session.json`` and ``journal.jsonl``,
made by :class:`~captioner.record.session.SessionDir` and written by
:class:`~captioner.record.journal.Journal`, exactly as a room writes its own (so
``captioner export`` reads an archived folder as it reads the room's). Only what the
room journals is written: committed captions and the journaled statuses.

**Folders.** A room's first archived event opens its first folder; a
``session_started`` status (the operator's "new session" on the room's console, whose
detail carries the room's folder ``name`` and ``title``) closes it and opens the next,
titled alike, so the archive splits a room's day where the room did. The
``session_started`` status is the new folder's first line, as in the room's own.
``session_resumed`` and ``stopped`` stay in the current folder and mark its
``session.json`` (runs, stop time) as the room's do.

**Which folder, after a restart.** Each folder's ``session.json`` keeps, under
``archive``, the room's stream (name and creation time) and ``first_stream_seq``, the
stream message that opened it. The current folder is the one of this very stream (a
stream removed and made again starts over at message 1: its events go to a new
folder) with the highest ``first_stream_seq``. A new folder is made only after the old
journal is on disk, so every message before a folder's first one is archived already.

**Once only.** A message may come again (a redelivery after a restart, the stream read
again): :func:`plan` says what to do with each, purely. A caption whose ``seq`` the
journal already has is a repeat (the room's sequence numbers only grow along its
stream); so is a status whose exact journal line is among the lines the last run may
have written without acknowledging them (:meth:`RoomRecord.expect_repeats`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from captioner.delivery.wire import encode
from captioner.errors import CaptionerError
from captioner.events import Caption, Status
from captioner.record.journal import Journal, is_journaled
from captioner.record.session import SESSION_FILE, SessionDir
from captioner.states import SESSION_RESUMED, SESSION_STARTED, STOPPED

log = logging.getLogger(__name__)

#: The key of ``session.json`` that says where a folder is on the bus.
ARCHIVE_KEY = "archive"

#: What :func:`plan` decides for one message:
#: ``ignore``: not part of the record (partial captions, live statuses such as levels);
#: ``done``: before the current folder, archived already;
#: ``repeat``: in the current journal already;
#: ``open``: opens a new folder and is its first line;
#: ``append``: a new line of the current journal.
Step = Literal["ignore", "done", "repeat", "open", "append"]


class ArchiveWriteError(CaptionerError):
    """A room's record cannot be written now (a full disk, a folder that cannot be made);
    nothing of what failed is acknowledged."""


@dataclass(frozen=True, slots=True)
class StreamId:
    """Which stream a folder's messages came from: a stream removed and made again
    under the same name numbers its messages from 1 again.

    Attributes:
        name: The stream's name (``captioner-room-<ROOM>``).
        created: When it was made (ISO 8601, from the server).
    """

    name: str
    created: str


def plan(event: Caption | Status, stream_seq: int, *, first_stream_seq: int | None,
         last_seq: int | None, journal_empty: bool, line_seen: bool) -> Step:
    """What to do with the room's message ``stream_seq`` (pure).

    Args:
        event: The message's event.
        stream_seq: Its sequence number in the room's stream.
        first_stream_seq: The message that opened the current folder; None before the
            room's first folder (of this stream).
        last_seq: The highest caption ``seq`` in the current journal.
        journal_empty: The current journal has no line yet.
        line_seen: The event's journal line is among those the last run may have written
            without acknowledging them.
    """
    if not is_journaled(event):
        return "ignore"
    if first_stream_seq is not None:
        if stream_seq < first_stream_seq:
            return "done"
        if stream_seq == first_stream_seq:
            # A folder made just before a crash may still lack its first line.
            return "append" if journal_empty else "repeat"
    if isinstance(event, Caption):
        if event.seq is not None and last_seq is not None and event.seq <= last_seq:
            return "repeat"
    elif line_seen:
        return "repeat"
    if first_stream_seq is None or (isinstance(event, Status)
                                    and event.state == SESSION_STARTED):
        return "open"
    return "append"


def session_start(event: Caption | Status) -> datetime:
    """When the session of a room's first archived event started, as well as it can be
    told: a caption's stream times count from the session's start."""
    ns = event.emitted_ns
    if isinstance(event, Caption):
        ns -= round(max(0.0, event.end_s) * 1e9)
    return datetime.fromtimestamp(ns / 1e9).astimezone()


def _at(event: Caption | Status) -> datetime:
    return datetime.fromtimestamp(event.emitted_ns / 1e9).astimezone()


class RoomRecord:
    """The archive of one room: its current folder and journal. Blocking: the consumer
    calls it on a worker thread, one call at a time.

    Args:
        root: The archive's folder (``--sessions``); the room's folders go in
            ``root/<room>/``.
        room: The room id (safe as a folder name).
        stream: The stream being archived.
        consumer: The archive's consumer name, kept in each folder's ``session.json``.
    """

    def __init__(self, root: str | Path, room: str, stream: StreamId, consumer: str) -> None:
        self.folders = Path(root) / room
        self.room = room
        self.stream = stream
        self.consumer = consumer
        self.session: SessionDir | None = None
        self.journal: Journal | None = None
        self.first_stream_seq: int | None = None
        self._empty = True
        self._repeats: set[str] = set()
        #: Committed captions this record appended.
        self.captions = 0

    @classmethod
    def open(cls, root: str | Path, room: str, stream: StreamId, consumer: str) -> RoomRecord:
        """The room's record, going on in its current folder of ``stream`` if it has one.

        Raises:
            ArchiveWriteError: the current folder's journal cannot be opened.
        """
        record = cls(root, room, stream, consumer)
        found = record._current_folder()
        if found is not None:
            session, first = found
            try:
                journal = session.open_journal()
            except CaptionerError as exc:
                raise ArchiveWriteError(exc.message, exc.hint) from None
            record.session, record.journal, record.first_stream_seq = session, journal, first
            record._empty = session.journal_path.stat().st_size == 0
            log.info("archive: room %s goes on in %s (after caption %s)", room, session.path,
                     journal.last_seq)
        return record

    def _current_folder(self) -> tuple[SessionDir, int] | None:
        best: tuple[SessionDir, int] | None = None
        if not self.folders.is_dir():
            return None
        for path in sorted(self.folders.iterdir()):
            if not (path / SESSION_FILE).is_file():
                continue
            try:
                session = SessionDir.open(path)
            except CaptionerError as exc:
                log.warning("archive: %s skipped (%s)", path, exc.message)
                continue
            mark = session.meta.get(ARCHIVE_KEY)
            if not isinstance(mark, dict) or mark.get("stream") != self.stream.name \
                    or mark.get("stream_created") != self.stream.created:
                continue
            first = mark.get("first_stream_seq")
            if isinstance(first, int) and (best is None or first > best[1]):
                best = session, first
        return best

    # -- facts ------------------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        """The current folder; None before the room's first event."""
        return None if self.session is None else self.session.path

    @property
    def last_seq(self) -> int | None:
        """The last committed caption in the current journal."""
        return None if self.journal is None else self.journal.last_seq

    @property
    def error(self) -> str | None:
        """Why the journal is not on disk now (full disk...); None when it is."""
        return None if self.journal is None else self.journal.error

    # -- writing ----------------------------------------------------------------------

    def expect_repeats(self, lines: int | None) -> None:
        """Says that the current journal's last ``lines`` lines (every line: None) may
        come again, written by a run that did not live to acknowledge them."""
        self._repeats = set()
        if self.session is None or lines == 0:
            return
        try:
            data = self.session.journal_path.read_bytes()
        except OSError as exc:
            raise ArchiveWriteError(f"{self.session.journal_path}: cannot read the journal "
                                    f"({exc.strerror or exc})") from None
        tail = [raw for raw in data.split(b"\n") if raw.strip()]
        if lines is not None:
            tail = tail[-lines:]
        self._repeats = {raw.decode("utf-8", "replace") for raw in tail}

    def write(self, stream_seq: int, event: Caption | Status) -> Step:
        """Writes one message of the room's stream, unless it is written already.

        The line reaches the kernel at once; :meth:`sync` puts it on the disk. A full
        disk keeps the line waiting in the journal (:attr:`error` says why) and
        :meth:`sync` returns False until it is written.

        Raises:
            ArchiveWriteError: a new folder is needed and cannot be made now (the event
                is not written; write it again later).
        """
        line_seen = isinstance(event, Status) and bool(self._repeats) \
            and encode(event) in self._repeats
        step = plan(event, stream_seq, first_stream_seq=self.first_stream_seq,
                    last_seq=self.last_seq, journal_empty=self._empty, line_seen=line_seen)
        if step == "open":
            self._open_folder(stream_seq, event)
        if step in ("open", "append"):
            assert self.journal is not None
            self.journal.append(event)
            self._empty = False
            if isinstance(event, Caption):
                self.captions += 1
            else:
                self._mark(event)
        return step

    def sync(self) -> bool:
        """Puts every line written so far on the disk; True when they are all there."""
        return True if self.journal is None else self.journal.sync()

    def close(self) -> None:
        """Syncs and closes the journal (the folder stays current for the next run)."""
        if self.journal is not None:
            self.journal.close()

    def _open_folder(self, stream_seq: int, event: Caption | Status) -> None:
        old, old_session = self.journal, self.session
        if old is not None and not old.sync():
            raise ArchiveWriteError(old.error or f"{old.path}: cannot write")
        detail: dict[str, Any] = event.detail if isinstance(event, Status) else {}
        title = detail.get("title") if isinstance(detail.get("title"), str) else None
        name = detail.get("name") if isinstance(detail.get("name"), str) else None
        mark = {"room": self.room, "stream": self.stream.name,
                "stream_created": self.stream.created, "first_stream_seq": stream_seq,
                "consumer": self.consumer, "room_session": name}
        started = _at(event) if old is not None else session_start(event)
        try:
            session = SessionDir.create(self.folders, title or None, started,
                                        extra={ARCHIVE_KEY: mark})
            journal = session.open_journal()
        except CaptionerError as exc:
            raise ArchiveWriteError(exc.message, exc.hint) from None
        if old is not None and old_session is not None:
            old.close()
            self._best_effort(old_session.close, _at(event))
        self.session, self.journal, self.first_stream_seq = session, journal, stream_seq
        self._empty, self._repeats = True, set()

    def _mark(self, status: Status) -> None:
        """The room's stop and resumption, in ``session.json`` as the room keeps them."""
        session = self.session
        if session is None:
            return
        if status.state == STOPPED:
            self._best_effort(session.close, _at(status))
        elif status.state == SESSION_RESUMED:
            self._best_effort(session.mark_resumed, _at(status))

    def _best_effort(self, change, when: datetime) -> None:
        # The journal holds the event; only the times in session.json would be missing.
        try:
            change(when)
        except (CaptionerError, OSError) as exc:
            log.warning("archive: room %s: %s", self.room, getattr(exc, "message", exc))
