"""The session record of a live room: which folder, journal and audio recorder are
current, how events and audio reach them, and the operator's "new session".

:class:`CurrentRecord` is the one holder of the current :class:`Record`; the journal
sink and the recorder tap read it at each event, so a new session takes effect from
the next event on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from captioner.bus.messages import RecordFigures
from captioner.errors import CaptionerError
from captioner.events import AudioChunk, Caption, Status
from captioner.record.journal import Journal, is_journaled
from captioner.record.recorder import AudioRecorder
from captioner.record.session import SessionDir
from captioner.states import RECORDING_ERROR, RECORDING_OK, SESSION_RESUMED

log = logging.getLogger(__name__)

#: How often the journal is fsynced while running.
SYNC_EVERY_S = 0.5


@dataclass(frozen=True)
class RecordRequest:
    """What a record is opened with: where, what it is called, what it remembers.

    Attributes:
        root: The folder that holds session folders.
        title: The session's title (may be None).
        config: The run's config, saved in the session folder.
        models: Which models ran (``{"asr": "whisper-base"}``).
        inputs: The input ids.
        record_audio: Whether the inputs' audio is recorded too.
        resume: A session folder to continue instead of a new one.
        programme: The event programme as data, saved in the session folder.
    """

    root: str | Path
    title: str | None = None
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    models: Mapping[str, str] = dataclasses.field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    record_audio: bool = True
    resume: str | None = None
    programme: tuple[Mapping[str, Any], ...] = ()


@dataclass
class Record:
    """The session record of one run: folder, journal, audio recorder.

    Attributes:
        resumed: The ``session_resumed`` status of a run that continues a recorded
            session (``--session``), to announce once the inputs listen; else None.
    """

    session: SessionDir
    journal: Journal
    recorder: AudioRecorder | None
    offset_s: float
    executor: ThreadPoolExecutor
    resumed: Status | None = None

    def close(self) -> None:
        if self.recorder is not None:
            # Queued writes finish first (one worker, in order), then the files close.
            self.executor.submit(self.recorder.close).result()
        self.executor.shutdown(wait=True)
        self.journal.close()
        try:
            self.session.close()
        except (CaptionerError, OSError) as exc:
            # The journal already holds every caption; only the stop time is lost.
            log.error("could not record the session's stop time: %s", exc)

    def figures(self) -> RecordFigures:
        """What the operator console shows about the record."""
        recorder = self.recorder
        healthy = self.journal.healthy and (recorder is None or recorder.healthy)
        return RecordFigures(self.session.name, str(self.session.path), healthy,
                             self.journal.error or (recorder.error if recorder else None))


def open_record(request: RecordRequest) -> Record:
    """The session folder, new or resumed, with its journal and audio recorder (blocking).

    Raises:
        CaptionerError: The folder or journal cannot be created or opened.
    """
    offset = 0.0
    try:
        if request.resume:
            session = SessionDir.open(request.resume)
            offset = session.mark_resumed()
            if request.programme:
                session.save_programme([dict(i) for i in request.programme])
        else:
            session = SessionDir.create(request.root, request.title,
                                        config=dict(request.config),
                                        models=dict(request.models),
                                        inputs=list(request.inputs),
                                        programme=[dict(i) for i in request.programme])
        journal = session.open_journal()
    except OSError as exc:
        raise CaptionerError(f"cannot open the session record: {exc.strerror or exc}",
                             hint="check the disk and --sessions") from None
    resumed = None
    if request.resume:
        log.warning("resuming %s after seq %d (stream time +%.1f s)", session.path,
                    journal.last_seq or 0, offset)
        resumed = Status(SESSION_RESUMED, time.time_ns(), detail={
            "name": session.name, "after_seq": journal.last_seq, "offset_s": round(offset, 3)})
    recorder = session.recorder() if request.record_audio else None
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder")
    return Record(session, journal, recorder, offset, executor, resumed)


class Health:
    """Turns a component's failures into one status on failure and one on recovery."""

    def __init__(self, component: str, announce: Callable[[Status], None]) -> None:
        self.component = component
        self.announce = announce
        self.failing = False

    def update(self, ok: bool, error: str | None) -> None:
        if ok == (not self.failing):
            return
        self.failing = not ok
        state = RECORDING_OK if ok else RECORDING_ERROR
        log.log(logging.INFO if ok else logging.ERROR, "%s: %s", self.component,
                "recovered" if ok else error)
        self.announce(Status(state, time.time_ns(), detail={
            "component": self.component, "error": error or ""}))


def journal_sink(current: Callable[[], Journal], announce: Callable[[Status], None]
                 ) -> Callable[[Caption | Status], None]:
    """A pipeline sink that appends every journaled event to the current journal.

    A write is one os.write to the kernel (fsync at most every 0.5 s), cheap enough
    for the loop; a full disk returns False, never raises: the screens go on
    captioning, and ``recording_error`` (then ``recording_ok``) says so.
    """
    health = Health("journal", announce)

    def sink(event: Caption | Status) -> None:
        if is_journaled(event):
            journal = current()
            ok = journal.append(event)
            health.update(ok, journal.error)

    return sink


class CurrentRecord:
    """The record a running room writes to, replaced by the operator's "new session".

    Args:
        record: The record opened at start.
        request: How it was opened (a new session reuses it with a new title).
    """

    def __init__(self, record: Record, request: RecordRequest) -> None:
        self.record = record
        self.request = request
        # The journals of this run, oldest first: sequence numbers go on across a new
        # session, so a republish to the venue's bus may need the earlier ones.
        self._journals: list[Path] = [record.session.journal_path]
        self._announce: Callable[[Status], None] = lambda status: None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def journal(self) -> Journal:
        return self.record.journal

    @property
    def title(self) -> str:
        """The current session's title (its ``session.json``'s); empty when it has none."""
        return self.record.session.title

    def journal_paths(self) -> list[Path]:
        """This run's journals, oldest first (what
        :func:`captioner.record.replay.journal_replay` reads back)."""
        return list(self._journals)

    def bind(self, announce: Callable[[Status], None]) -> None:
        """Where recording failures and recoveries are announced (the room's publish)."""
        self._announce = announce

    def journal_sink(self) -> Callable[[Caption | Status], None]:
        return journal_sink(lambda: self.record.journal, lambda s: self._announce(s))

    def recorder_tap(self) -> Callable[[AudioChunk], None] | None:
        """Hands each chunk to the current recorder on its own thread, in order; None
        when audio is not recorded."""
        if self.record.recorder is None:
            return None
        health = Health("audio recording", lambda s: self._announce(s))

        def tap(chunk: AudioChunk) -> None:
            record = self.record
            recorder = record.recorder
            if recorder is None:
                return
            loop = self._loop or asyncio.get_running_loop()
            self._loop = loop

            def done(future) -> None:
                ok = bool(future.result()) if not future.exception() else False
                loop.call_soon_threadsafe(health.update, ok, recorder.error)

            future = record.executor.submit(recorder.write, chunk.input_id, chunk.samples,
                                            chunk.start_s)
            future.add_done_callback(done)

        return tap

    async def sync_periodically(self, every_s: float = SYNC_EVERY_S) -> None:
        """fsyncs the current journal every ``every_s`` until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(every_s)
            await loop.run_in_executor(None, self.record.journal.sync)

    async def new_session(self, title: str) -> dict[str, str]:
        """A new folder, journal and recorder; the old one closed. Sequence numbers and
        stream times go on (see docs/operator.md).

        Raises:
            CaptionerError: The new record cannot be opened (the old one stays current).
        """
        loop = asyncio.get_running_loop()
        request = dataclasses.replace(self.request, title=title or self.request.title,
                                      resume=None)
        new = await loop.run_in_executor(None, open_record, request)
        old, self.record = self.record, new  # on the loop: the next event goes here
        self._journals.append(new.session.journal_path)
        await loop.run_in_executor(None, old.close)
        print(f"captioner: session recorded in {old.session.path}; export it with: "
              f"captioner export {old.session.path}", file=sys.stderr)
        return {"name": new.session.name, "path": str(new.session.path)}

    def close(self) -> None:
        record = self.record
        record.close()
        print(f"captioner: session recorded in {record.session.path}; export it with: "
              f"captioner export {record.session.path}", file=sys.stderr)
