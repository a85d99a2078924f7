"""One room of the archive: a durable JetStream consumer feeding the room's record.

Each room's stream gets a durable pull consumer of the archive's own name
(``archive-<NAME>``, explicit acknowledgements), so that the server keeps the archive's
position in every room across restarts of the archive, of the server and of the
connection. One batch at a time, in stream order:

1. fetch up to :data:`BATCH` messages;
2. write the journaled ones to the room's record (a worker thread);
3. put the journal on the disk (fsync);
4. only then acknowledge every message of the batch.

An acknowledged message is on the disk, so a crash can lose nothing acknowledged; a
message written but not acknowledged comes again, and the record
(:mod:`captioner.archive.folders`) knows it: a caption by its ``seq``, a status by its
exact line among the journal's last lines, as many as there are stream messages between
the consumer's ack floor and the last message it delivered (each wrote one line at most).

Messages the last run was given but never acknowledged are redelivered by the server
only once their ``ack_wait`` runs out, after newer ones: the consumer never lets a
message overtake another. It keeps the last stream message it archived, skips what
comes again below it, and when a message arrives with a gap before it, reads the gap
from the stream itself (one "next message" request each) and archives it first.

A full disk (or any write the disk refuses): the batch is not acknowledged; the
consumer says so once, tells the server the messages are still being worked on (so
they are not handed out again), tries again every ``retry_s`` and goes on where it
stopped once the disk takes the lines. Nothing is lost and nothing is fetched
meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from captioner.archive.folders import ArchiveWriteError, RoomRecord, StreamId
from captioner.bus.codec import CodecError, decode_published
from captioner.bus.connection import BusLink, Session, describe
from captioner.bus.names import events_subject, stream_name
from captioner.events import Caption

log = logging.getLogger(__name__)

#: Messages fetched (and then acknowledged) at a time.
BATCH = 256
#: Messages the server hands the archive before it has acknowledged them.
MAX_ACK_PENDING = 1024
#: How long the server waits for an acknowledgement before it hands a message out again.
ACK_WAIT_S = 30.0

Report = Callable[[str], None]


class _Lost(Exception):
    """The connection went while the consumer used it."""


class _Stopped(Exception):
    """The archive is stopping."""


@dataclass(frozen=True, slots=True)
class _Written:
    applied: int
    captions: int
    opened: bool
    error: ArchiveWriteError | None


class RoomConsumer:
    """Archives one room, from its durable consumer, from :meth:`start` to :meth:`close`.

    Args:
        link: The connection to the bus.
        room: The room id.
        root: The archive's folder (``--sessions``).
        consumer: The durable consumer's name (``archive-<NAME>``).
        executor: Where the record is written (blocking file I/O).
        report: Gets the lines an organiser reads (room joined, new folder, trouble).
        batch: Messages per fetch.
        fetch_s: How long one fetch waits for messages.
        retry_s: Wait before trying a refused write or request again.
    """

    def __init__(self, link: BusLink, room: str, root: str | Path, *, consumer: str,
                 executor: Executor, report: Report, batch: int = BATCH,
                 fetch_s: float = 2.0, retry_s: float = 5.0) -> None:
        self.room = room
        self._link = link
        self._root = Path(root)
        self._consumer = consumer
        self._executor = executor
        self._report = report
        self._batch = batch
        self._fetch_s = fetch_s
        self._retry_s = retry_s
        self._stream = stream_name(room)
        self._subject = events_subject(room)
        self._record: RoomRecord | None = None
        self._done: int | None = None  # the last stream message archived; None: not known
        self._problem: str | None = None
        self._problem_kind: str | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._idle = True
        self._progress = asyncio.Condition()
        #: Committed captions archived and acknowledged by this run.
        self.captions = 0
        #: The last committed caption archived and acknowledged.
        self.acked_seq: int | None = None

    @property
    def folder(self) -> Path | None:
        """The room's current session folder in the archive."""
        return None if self._record is None else self._record.path

    @property
    def problem(self) -> str | None:
        """Why the room is not being archived right now; None while it is."""
        return self._problem

    async def wait_archived(self, seq: int) -> None:
        """Waits until caption ``seq`` is archived, on the disk and acknowledged."""
        async with self._progress:
            await self._progress.wait_for(
                lambda: self.acked_seq is not None and self.acked_seq >= seq)

    def start(self) -> None:
        """Starts archiving the room (on the event loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"archive-{self.room}")

    async def close(self) -> None:
        """Stops after the batch in hand (at once while waiting for one, which then
        comes again to the next run) and closes the room's journal."""
        self._stopping = True
        task, self._task = self._task, None
        if task is None:
            return
        if self._idle:
            # The loop also looks at the flag: asyncio.wait_for in nats-py can swallow a
            # cancellation that meets a reply (Python 3.11).
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        try:
            while not self._stopping:
                self._idle = True
                session = await self._link.session()
                self._idle = False
                try:
                    subscription = await self._attach(session)
                    if self._problem_kind == "bus":
                        self._recovered()
                    await self._follow(session, subscription)
                except _Stopped:
                    break
                except _Lost:
                    continue
                except Exception as exc:
                    if session.lost.is_set():
                        continue
                    if isinstance(exc, ArchiveWriteError):
                        self._trouble(f"room {self.room}: {exc.message}; trying again",
                                      "disk")
                    else:
                        self._trouble(f"room {self.room}: "
                                      f"{describe(exc, self._link.options).message}; trying "
                                      "again", "bus")
                    self._idle = True
                    await self._pause(session)
        finally:
            if self._record is not None:
                await asyncio.get_running_loop().run_in_executor(self._executor,
                                                                 self._record.close)

    # -- attaching to the consumer --------------------------------------------------------

    async def _attach(self, session: Session) -> Any:
        import nats.js.errors

        js = session.js
        info = await js.stream_info(self._stream)
        stream = StreamId(self._stream, info.created.isoformat() if info.created else "")
        if self._record is None or self._record.stream != stream:
            if self._record is not None:
                self._report(f"room {self.room}: its stream was made again; its events go "
                             "to a new folder")
                await self._call(self._record.close)
            self._record = await self._call(RoomRecord.open, self._root, self.room, stream,
                                            self._consumer)
            self._done = None
        record = self._record
        try:
            consumer = await js.consumer_info(self._stream, self._consumer)
        except nats.js.errors.NotFoundError:
            consumer = None
        first_look = self._done is None
        if consumer is None:
            start = await self._make_consumer(js, record)
            floor = 0 if start is None else start - 1
        else:
            floor = consumer.ack_floor.stream_seq if consumer.ack_floor else 0
            if first_look:
                # What the last run was given and did not acknowledge may be written.
                delivered = consumer.delivered.stream_seq if consumer.delivered else 0
                if delivered > floor:
                    await self._call(record.expect_repeats, delivered - floor)
        if first_look:
            self._done = floor
            where = f"after stream message {floor}" if floor else "from the start"
            self._report(f"room {self.room} joined: {info.state.messages} events on the "
                         f"bus, archiving {where} into {record.folders}")
            if floor and record.path is None:
                self._report(f"room {self.room}: its consumer {self._consumer} archived up "
                             f"to stream message {floor} into another folder; going on from "
                             "there (another --name archives the room from the start)")
        return await js.pull_subscribe_bind(durable=self._consumer, stream=self._stream)

    async def _make_consumer(self, js: Any, record: RoomRecord) -> int | None:
        """Makes the room's durable consumer; returns where it starts (None: the
        stream's start). A run that knows where it is goes on from there; else, a room
        with a folder but no consumer (removed by hand) is read again from the folder's
        first message, and everything in its journal may come again."""
        if self._done is not None:
            start: int | None = self._done + 1
        else:
            start = record.first_stream_seq
            if start is not None:
                await self._call(record.expect_repeats, None)
        await js.add_consumer(self._stream, self._config(start))
        return start

    def _config(self, start: int | None) -> Any:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        return ConsumerConfig(
            name=self._consumer, durable_name=self._consumer,
            description=f"captioner archive of room {self.room}",
            deliver_policy=DeliverPolicy.ALL if start is None else
            DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start,
            ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S,
            max_ack_pending=MAX_ACK_PENDING, max_deliver=-1, filter_subject=self._subject)

    # -- following it ---------------------------------------------------------------------

    async def _follow(self, session: Session, subscription: Any) -> None:
        import nats.errors

        while True:
            if self._stopping:
                raise _Stopped
            self._idle = True
            try:
                msgs = await subscription.fetch(self._batch, timeout=self._fetch_s)
            except nats.errors.TimeoutError:
                msgs = []
            finally:
                self._idle = False
            if session.lost.is_set():
                raise _Lost
            if msgs:
                await self._archive(session, msgs)

    async def _archive(self, session: Session, msgs: Sequence[Any]) -> None:
        """Writes a batch (with any gap before it), syncs, then acknowledges it."""
        assert self._record is not None and self._done is not None
        items: list[tuple[int, bytes]] = []
        last = self._done
        for msg in msgs:
            seq = msg.metadata.sequence.stream
            if seq <= last:
                continue  # archived already: it came again
            if seq > last + 1:
                items.extend(await self._gap(session, last, seq))
            items.append((seq, msg.data))
            last = seq
        opened = False
        captions = 0
        while items:
            written = await self._call(self._write, items)
            captions += written.captions
            opened = opened or written.opened
            if written.applied:
                self._done = items[written.applied - 1][0]
            items = items[written.applied:]
            if written.error is not None:
                await self._stall(written.error.message, msgs)
        while not await self._call(self._record.sync):
            await self._stall(self._record.error or "the journal cannot be written", msgs)
        if self._problem_kind == "disk":
            self._recovered()
        for msg in msgs:
            await msg.ack()
        await self._advance(captions, opened)

    def _write(self, items: Sequence[tuple[int, bytes]]) -> _Written:
        """On the worker thread: as many of ``items`` as the disk takes, in order."""
        record = self._record
        assert record is not None
        captions = 0
        opened = False
        for n, (seq, data) in enumerate(items):
            try:
                event = decode_published(data).event
            except CodecError as exc:
                log.warning("archive: room %s: stream message %d is unreadable, skipped (%s)",
                            self.room, seq, exc)
                continue
            try:
                step = record.write(seq, event)
            except ArchiveWriteError as exc:
                return _Written(n, captions, opened, exc)
            if step in ("open", "append") and isinstance(event, Caption):
                captions += 1
            opened = opened or step == "open"
        return _Written(len(items), captions, opened, None)

    async def _gap(self, session: Session, last: int, seq: int) -> list[tuple[int, bytes]]:
        """The stream's messages between ``last`` and ``seq``, read from the stream: the
        ones a run before this one was given and never acknowledged."""
        import nats.js.errors

        found: list[tuple[int, bytes]] = []
        at = last + 1
        while at < seq:
            try:
                msg = await session.js.get_msg(self._stream, seq=at, subject=self._subject,
                                               next=True)
            except nats.js.errors.NotFoundError:
                break
            if msg.seq is None or msg.seq >= seq:
                break
            found.append((msg.seq, msg.data or b""))
            at = msg.seq + 1
        if found:
            log.info("archive: room %s: %d messages before stream message %d read from the "
                     "stream (given to an earlier run, not acknowledged)", self.room,
                     len(found), seq)
        return found

    async def _stall(self, why: str, msgs: Sequence[Any]) -> None:
        """The disk refused: say so, keep the batch ours, wait and let the caller retry."""
        self._trouble(f"room {self.room}: cannot write the archive ({why}); nothing is "
                      f"acknowledged, so nothing is lost; trying again every "
                      f"{self._retry_s:g} s", "disk")
        for msg in msgs:
            with contextlib.suppress(Exception):  # a lost connection: redelivered later
                await msg.in_progress()
        self._idle = True  # nothing acknowledged: stopping here loses nothing
        try:
            await asyncio.sleep(self._retry_s)  # the disk gives no signal when it has room
        finally:
            self._idle = False
        if self._stopping:
            raise _Stopped

    async def _advance(self, captions: int, opened: bool) -> None:
        assert self._record is not None
        self.captions += captions
        if self._record.last_seq != self.acked_seq:
            self.acked_seq = self._record.last_seq
            log.debug("archive: room %s: archived up to caption %s", self.room,
                      self.acked_seq)
        if opened:
            self._report(f"room {self.room}: new session folder {self._record.path}")
        async with self._progress:
            self._progress.notify_all()

    # -- the rest ---------------------------------------------------------------------------

    def _trouble(self, line: str, kind: str) -> None:
        self._problem_kind = kind
        if line != self._problem:
            self._problem = line
            self._report(line)

    def _recovered(self) -> None:
        self._problem = self._problem_kind = None
        self._report(f"room {self.room}: archiving again, nothing lost")

    async def _pause(self, session: Session) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.lost.wait(), self._retry_s)

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
