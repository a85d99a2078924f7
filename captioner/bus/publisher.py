"""The room side of the JetStream bus: every event of the room's own bus, forwarded.

A :class:`RoomPublisher` follows the room's :class:`~captioner.bus.local.LocalBus` and
sends each event to the room's stream from its own task, one at a time, each after the
one before it was acknowledged. The room never waits for it:

* The handler on the room's bus only puts the event in a bounded queue. When the queue
  is full (the bus is down or slow), everything in it is dropped and replaced by one
  *catch-up* marker: the room's journal, the source of truth, has every committed
  caption and every journaled status, and the marker has them read back from it.
  Partial captions and live-only statuses dropped that way are superseded anyway.
* On every connection (the first, and after each loss) the publisher asks the stream for
  the last caption it holds, and republishes from the journal (the ``replay`` callable)
  what came after it: the committed captions that went through the room's bus (not
  those the screen gate held back while paused: the publisher keeps the numbers it saw)
  and the journaled statuses; then it goes on live. A caption sent twice carries the
  same message id (``<ROOM>:<seq>``) and is stored once.
* A room whose bus is down at start starts all the same and joins when the bus is up.
* Its state (connecting, connected, catching up, down and why) goes to ``on_state``, for
  the room's console.

A stream that holds captions of another run of the same room id (a fresh run starts
again at ``seq`` 1) is never written over: the publisher stays down with a ``conflict``
error that says what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from captioner.bus.base import CaptionBus, Subscription
from captioner.bus.codec import encode_figures, encode_published
from captioner.bus.connection import BusError, BusLink, LinkState, Session, describe
from captioner.bus.messages import Published, RoomFigures
from captioner.bus.names import (
    KIND_CAPTION,
    KIND_PARTIAL,
    KIND_STATUS,
    check_room,
    events_subject,
    figures_subject,
    kind_of,
    status_message_id,
    stream_name,
)
from captioner.bus.streams import StreamLimits, caption_at, ensure_stream, last_caption
from captioner.events import Caption, Status

log = logging.getLogger(__name__)

#: Reads the room's journal back: every event after the committed caption ``after_seq``,
#: in journal order (see :func:`captioner.record.replay.journal_replay`). Called on a worker
#: thread.
Replay = Callable[[int], Iterable[Caption | Status]]

#: Events waiting to be sent; past this the queue is dropped for a catch-up.
DEFAULT_QUEUE = 1024

_CATCH_UP = object()


@dataclass(frozen=True, slots=True)
class PublisherState:
    """Where a room's publishing stands.

    Attributes:
        state: ``connecting`` (until the first connection or between a connection and
            the first catch-up), ``catching_up`` (republishing from the journal),
            ``connected`` (live) or ``down``.
        url: The bus URL, without its password.
        acked_seq: The last committed caption the bus acknowledged; None before the
            first connection.
        error: Why it is down (one line and a hint, safe to show).
    """

    state: Literal["connecting", "connected", "catching_up", "down"]
    url: str
    acked_seq: int | None = None
    error: BusError | None = None

    @property
    def reason(self) -> str | None:
        return None if self.error is None else self.error.message


class _Lost(Exception):
    """The session ended while the publisher waited on it."""


class _Conflict(Exception):
    def __init__(self, error: BusError) -> None:
        super().__init__(error.message)
        self.error = error


def same_caption(a: Caption, b: Caption) -> bool:
    """Whether two committed captions are the same one: the journal keeps
    ``emitted_at`` to the microsecond as a float, so times agree to a millisecond."""
    return (a.seq == b.seq and a.id == b.id and a.lang == b.lang and a.text == b.text
            and abs(a.emitted_ns - b.emitted_ns) < 1_000_000)


class RoomPublisher:
    """Forwards a room's events to its stream on the bus.

    Args:
        link: The connection to the bus (started by :meth:`start` if need be).
        bus: The room's own bus, followed live.
        replay: Reads the journal back (see :data:`Replay`).
        limits: The room's stream limits.
        on_state: Called on the event loop with each change of :attr:`state`.
        queue_size: Events that may wait to be sent.
        figures: Whether to forward the room's figures snapshots (latest wins, not
            kept by the bus).
        retry_s: Wait before trying again after the bus refused a request.
        conflict_retry_s: Wait before looking again at a stream of another run.

    Raises:
        BusError: the room id is not one the bus can carry.
    """

    def __init__(self, link: BusLink, bus: CaptionBus, *, replay: Replay,
                 limits: StreamLimits = StreamLimits(),
                 on_state: Callable[[PublisherState], None] | None = None,
                 queue_size: int = DEFAULT_QUEUE, figures: bool = True,
                 retry_s: float = 2.0, conflict_retry_s: float = 30.0) -> None:
        try:
            self.room = check_room(bus.room)
        except ValueError as exc:
            raise BusError(str(exc), "set [bus] room or --room to a valid id",
                           kind="url") from None
        self._link = link
        self._bus = bus
        self._replay = replay
        self._limits = limits
        self._on_state = on_state
        self._forward_figures = figures
        self._retry_s = retry_s
        self._conflict_retry_s = conflict_retry_s
        self._stream = stream_name(self.room)
        self._subjects = {kind: events_subject(self.room, kind)
                          for kind in (KIND_CAPTION, KIND_PARTIAL, KIND_STATUS)}
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=max(2, queue_size))
        self._acked: int | None = None
        self._acked_changed = asyncio.Condition()
        self._unverified: int | None = None
        self._released: set[int] = set()  # seqs the room's bus carried, not yet acked
        self._superseded: set[str] = set()
        self._state = PublisherState("connecting", link.url)
        self._subscriptions: list[Subscription] = []
        self._tasks: list[asyncio.Task] = []
        self._figures: RoomFigures | None = None
        self._figures_ready = asyncio.Event()
        self._closing = False
        #: Events dropped from the full queue (brought back from the journal when they
        #: are committed captions or journaled statuses).
        self.dropped = 0
        #: Events the bus acknowledged.
        self.sent = 0

    @property
    def state(self) -> PublisherState:
        return self._state

    @property
    def queued(self) -> int:
        """Events waiting to be sent."""
        return self._queue.qsize()

    @property
    def acked_seq(self) -> int | None:
        """The last committed caption the bus acknowledged."""
        return self._acked

    async def start(self) -> None:
        """Follows the room's bus and starts publishing; never raises for the network.

        The room's bus first hands over the committed captions it holds (a resumed
        session's, and any before this call): they count as carried, and go to the bus
        if its stream lacks them.
        """
        self._subscriptions.append(self._bus.subscribe(self._on_event, since_seq=0))
        if self._forward_figures:
            self._subscriptions.append(self._bus.subscribe_figures(self._on_figures))
        self._link.add_listener(self._on_link)
        self._link.start()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._run(), name=f"bus-publish-{self.room}"))
        if self._forward_figures:
            self._tasks.append(loop.create_task(self._send_figures(),
                                                name=f"bus-figures-{self.room}"))

    async def wait_acked(self, seq: int) -> None:
        """Waits until the bus has acknowledged the committed caption ``seq``."""
        async with self._acked_changed:
            await self._acked_changed.wait_for(
                lambda: self._acked is not None and self._acked >= seq)

    async def close(self, timeout_s: float = 2.0) -> None:
        """Stops following the room; what is queued gets up to ``timeout_s`` to go out
        (the journal has the rest for the next run's catch-up)."""
        self._closing = True
        for subscription in self._subscriptions:
            subscription.close()
        self._subscriptions.clear()
        if self._tasks and self._link.current is not None and self._state.state != "down":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), timeout_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    # -- the room's side of the queue (on the loop, never waiting) ------------------------

    def _on_event(self, published: Published) -> None:
        if self._closing:
            return
        if published.seq is not None:
            self._released.add(published.seq)
        try:
            self._queue.put_nowait(published)
        except asyncio.QueueFull:
            dropped = self._clear_queue()
            self.dropped += dropped
            log.info("bus: room %s: %d events waiting for the bus were dropped; the journal "
                     "brings back the captions", self.room, dropped)
            self._queue.put_nowait(_CATCH_UP)
            self._queue.put_nowait(published)

    def _on_figures(self, figures: RoomFigures) -> None:
        self._figures = figures
        self._figures_ready.set()

    def _clear_queue(self) -> int:
        dropped = 0
        while not self._queue.empty():
            item = self._queue.get_nowait()
            self._queue.task_done()
            dropped += item is not _CATCH_UP
        return dropped

    # -- the publishing task --------------------------------------------------------------

    def _set_state(self, state: str, error: BusError | None = None, *,
                   logged: bool = False) -> None:
        new = PublisherState(state, self._link.url, self._acked, error)  # type: ignore[arg-type]
        old = self._state
        self._state = new
        if (old.state, old.reason) == (new.state, new.reason):
            return
        if error is not None and not logged:
            log.warning("bus: room %s: %s", self.room, error.message)
        if self._on_state is not None:
            try:
                self._on_state(new)
            except Exception:  # the console's callback must not stop publishing
                log.exception("bus state callback %r failed", self._on_state)

    def _on_link(self, state: LinkState) -> None:
        if not state.connected:
            self._set_state("down", state.error, logged=True)  # the link logged it
        elif self._state.state == "down":
            self._set_state("connecting")

    async def _run(self) -> None:
        while True:
            session = await self._link.session()
            try:
                await self._join(session)
                await self._pump(session)
            except _Lost:
                continue  # the link says so and connects again
            except _Conflict as conflict:
                self._set_state("down", conflict.error)
                await self._pause(session, self._conflict_retry_s)
            except Exception as exc:
                if session.lost.is_set():
                    continue
                self._set_state("down", describe(exc, self._link.options))
                await self._pause(session, self._retry_s)

    @staticmethod
    async def _pause(session: Session, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.lost.wait(), seconds)

    async def _join(self, session: Session) -> None:
        """Makes sure of the stream, learns where it ends, republishes what it lacks."""
        # What waits in the queue is in the journal (captions, journaled statuses) or
        # stale (partials, levels): the replay below, read after this, brings it back.
        self._clear_queue()
        await ensure_stream(session.js, self.room, self._limits)
        last = await last_caption(session.js, self.room)
        self._unverified = None
        acked = 0
        if last is not None:
            stored = last[1].event
            assert isinstance(stored, Caption) and stored.seq is not None
            await self._check_lineage(session, stored)
            acked = stored.seq
        self._acked = acked
        await self._catch_up(session)

    async def _check_lineage(self, session: Session, stored: Caption) -> None:
        """Raises :class:`_Conflict` when the stream's captions are not this room's: the
        caption both hold at one sequence number must be the same caption."""
        assert stored.seq is not None
        ours = {e.seq: e for e in await self._read_replay(0)
                if isinstance(e, Caption) and e.final and e.seq is not None}
        if stored.seq in ours:
            same = same_caption(ours[stored.seq], stored)
        elif not ours:
            # An empty journal: a fresh run (seq from 1) or one resumed past the bus;
            # the room's next committed caption tells.
            self._unverified = stored.seq
            return
        elif (mine := max(ours)) < stored.seq:
            theirs = await caption_at(session.js, self.room, mine)
            if theirs is None:
                self._unverified = stored.seq
                return
            same = same_caption(ours[mine], theirs)
        else:
            return  # the journal goes past the bus's last caption, a gap at most
        if not same:
            raise _Conflict(self._conflict_error(stored.seq))

    def _conflict_error(self, last_seq: int) -> BusError:
        return BusError(
            f"room {self.room} on the bus at {self._link.url} holds captions up to "
            f"{last_seq} from another run; not publishing over them",
            f"resume that session, use another room id, or remove the room's stream "
            f"(nats stream rm {self._stream})", kind="conflict")

    async def _read_replay(self, after: int) -> list[Caption | Status]:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, lambda: list(self._replay(after)))
        except Exception as exc:
            message = getattr(exc, "message", None) or repr(exc)
            log.warning("bus: room %s: cannot read the journal back after caption %d (%s); "
                        "what the bus missed stays missing", self.room, after, message)
            return []

    async def _catch_up(self, session: Session) -> None:
        """Republishes from the journal what the stream lacks of what the room's bus
        carried: committed captions after the last acknowledged one that went through
        the room's bus (not those the screen gate held back), and journaled statuses."""
        self._set_state("catching_up")
        assert self._acked is not None
        self._superseded = set()
        for event in await self._read_replay(self._acked):
            if isinstance(event, Caption):
                if (not event.final or event.seq is None or event.seq <= self._acked
                        or event.seq not in self._released):
                    continue
                self._superseded.add(event.id)
            await self._send(session, Published(self.room, event))
        self._released = {seq for seq in self._released if seq > self._acked}
        self._set_state("connected")

    async def _next(self, session: Session) -> object:
        if not self._queue.empty():
            return self._queue.get_nowait()
        getter = asyncio.ensure_future(self._queue.get())
        lost = asyncio.ensure_future(session.lost.wait())
        try:
            await asyncio.wait({getter, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        raise _Lost

    async def _pump(self, session: Session) -> None:
        while True:
            item = await self._next(session)
            try:
                if item is _CATCH_UP:
                    await self._catch_up(session)
                else:
                    assert isinstance(item, Published)
                    await self._forward(session, item)
            finally:
                self._queue.task_done()

    async def _forward(self, session: Session, published: Published) -> None:
        seq = published.seq
        if seq is not None:
            if self._unverified is not None:
                if seq <= self._unverified:
                    raise _Conflict(self._conflict_error(self._unverified))
                self._unverified = None
            assert self._acked is not None
            if seq <= self._acked:
                self._released.discard(seq)
                return
            # A gap before seq is the screen gate's (captions held while paused never
            # reach the room's bus): what this publisher lost, it lost through the
            # catch-up marker or a lost connection, and both replay the journal.
        elif isinstance(published.event, Caption) and published.event.id in self._superseded:
            return  # a partial of an utterance the catch-up already sent committed
        await self._send(session, published)

    async def _send(self, session: Session, published: Published) -> None:
        event = published.event
        message_id = published.message_id
        if message_id is None and isinstance(event, Status):
            message_id = status_message_id(self.room, event)
        headers = {"Nats-Msg-Id": message_id} if message_id is not None else None
        try:
            data = encode_published(published)
        except (TypeError, ValueError) as exc:  # a status detail that is not JSON data
            log.warning("bus: room %s: an event that cannot be encoded was left out (%s)",
                        self.room, exc)
            return
        await session.js.publish(self._subjects[kind_of(event)], data, stream=self._stream,
                                 headers=headers)
        self.sent += 1
        if published.seq is not None:
            self._acked = published.seq
            self._released.discard(published.seq)
            async with self._acked_changed:
                self._acked_changed.notify_all()

    async def _send_figures(self) -> None:
        subject = figures_subject(self.room)
        while True:
            await self._figures_ready.wait()
            self._figures_ready.clear()
            figures, session = self._figures, self._link.current
            if figures is None or session is None:
                continue
            try:
                await session.nc.publish(subject, encode_figures(self.room, figures))
            except Exception as exc:  # figures are live only: the next snapshot follows
                log.debug("bus: room %s: figures not sent (%r)", self.room, exc)
