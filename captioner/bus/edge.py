"""The audience side of the JetStream bus: one room's stream as a :class:`CaptionBus`.

A serving edge reads a room from the bus instead of from the room's process. Each
:meth:`JetStreamBus.subscribe` gets its own ordered consumer on the room's stream
(JetStream's replay, in stream order, with no acknowledgements to keep):

* ``since_seq=N`` starts at the first committed caption after ``N`` (found in an index
  of what this edge has read, else by bisection, :func:`~captioner.bus.streams.first_after`);
  of what the stream held at that moment only committed captions are delivered (past
  partials and statuses would be stale), then everything live;
* ``since_seq=None`` starts at the end of the stream, live;
* a lost connection is followed by a new consumer from the next stream sequence, so
  nothing is missed or repeated; the :class:`~captioner.bus.base.Subscription` drops
  any committed caption it has already delivered.

The serving side should subscribe once per room and fan out to its viewers itself (as
it does from the room's own bus), not once per viewer.

Figures: a room publishes its :class:`~captioner.bus.messages.RoomFigures` over plain
NATS, outside the stream; the edge keeps the latest (none after a restart until the
room sends the next, a few times a second). Edges are read-only: :meth:`command` answers
every command with an error, and the room-side methods raise.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from dataclasses import dataclass, field

from captioner.bus.base import (
    CaptionBus,
    CommandHandler,
    FiguresHandler,
    Handler,
    Subscription,
)
from captioner.bus.codec import CodecError, decode_figures, decode_published
from captioner.bus.connection import BusLink, Session
from captioner.bus.messages import Ack, Command, RoomFigures
from captioner.bus.names import check_room, events_subject, figures_subject, stream_name
from captioner.bus.streams import first_after
from captioner.events import Caption, Status

log = logging.getLogger(__name__)

#: Caption seq -> stream sequence entries an edge keeps per room.
INDEX_SIZE = 100_000

READ_ONLY = "this is a serving edge: commands go to the room's own console"


@dataclass(slots=True)
class _Reader:
    """Where one subscription is in the stream."""

    subscription: Subscription
    since_seq: int | None
    next_stream_seq: int | None = None  # None: not attached yet
    history_until: int = 0  # up to here the stream held at the first attach: captions only
    attached: asyncio.Event = field(default_factory=asyncio.Event)


class JetStreamBus(CaptionBus):
    """One room on the bus, read by a serving edge.

    Args:
        link: The connection to the bus (open it first: :meth:`BusLink.open`).
        room: The room id.
        retry_s: Wait before looking again for a room's stream that is not there yet.

    Raises:
        ValueError: ``room`` is not a valid room id.
    """

    def __init__(self, link: BusLink, room: str, *, retry_s: float = 2.0) -> None:
        self.room = check_room(room)
        self._link = link
        self._retry_s = retry_s
        self._stream = stream_name(room)
        self._subject = events_subject(room)
        self._index: collections.OrderedDict[int, int] = collections.OrderedDict()
        self._figures: RoomFigures | None = None
        self._figure_subscriptions: list[Subscription] = []
        self._tasks: set[asyncio.Task] = set()
        self._readers: dict[Subscription, _Reader] = {}
        self._figures_task: asyncio.Task | None = None
        self._figures_attached = asyncio.Event()

    # -- the room side: not here ------------------------------------------------------------

    def publish(self, event: Caption | Status, *, held: bool = False) -> None:
        raise RuntimeError(f"room {self.room}: {READ_ONLY}")

    def publish_figures(self, figures: RoomFigures) -> None:
        raise RuntimeError(f"room {self.room}: {READ_ONLY}")

    def serve_commands(self, handler: CommandHandler) -> None:
        raise RuntimeError(f"room {self.room}: {READ_ONLY}")

    async def command(self, command: Command) -> Ack:
        return Ack(command.id, command.name, changed=False, error=READ_ONLY)

    # -- the audience side ----------------------------------------------------------------

    def subscribe(self, handler: Handler, *, since_seq: int | None = None,
                  held: bool = False) -> Subscription:
        """Follows the room (see the module's docstring); call it on the event loop.
        Held captions never leave the room, so ``held`` changes nothing here."""
        def closed(subscription: Subscription) -> None:
            self._readers.pop(subscription, None)
            task.cancel()

        subscription = Subscription(handler, since_seq=since_seq or 0, on_close=closed)
        reader = self._readers[subscription] = _Reader(subscription, since_seq)
        task = asyncio.get_running_loop().create_task(self._follow(reader),
                                                      name=f"bus-edge-{self.room}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return subscription

    def subscribe_figures(self, handler: FiguresHandler) -> Subscription:
        subscription = Subscription(handler, on_close=self._figure_subscriptions.remove)
        self._figure_subscriptions.append(subscription)
        if self._figures_task is None:
            self._figures_task = asyncio.get_running_loop().create_task(
                self._follow_figures(), name=f"bus-edge-figures-{self.room}")
        return subscription

    @property
    def figures(self) -> RoomFigures | None:
        return self._figures

    async def wait_attached(self, subscription: Subscription) -> None:
        """Waits until a subscription of this bus reads the stream (or, for a figures
        subscription, listens for figures): from then on nothing the room publishes is
        missed. For tests and for a serving edge's readiness check."""
        reader = self._readers.get(subscription)
        if reader is not None:
            await reader.attached.wait()
        elif subscription in self._figure_subscriptions:
            await self._figures_attached.wait()

    async def close(self) -> None:
        """Stops reading the room; the link stays open (it may serve other rooms)."""
        tasks = list(self._tasks)
        if self._figures_task is not None:
            tasks.append(self._figures_task)
            self._figures_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- following the stream ---------------------------------------------------------------

    async def _follow(self, reader: _Reader) -> None:
        said = ""  # what the last failed attempt logged: the same again is no news
        while not reader.subscription.closed:
            session = await self._link.session()
            consumer = None
            try:
                consumer = await self._attach(session, reader)
                reader.attached.set()
                if said:
                    log.info("bus: room %s: reading its stream now", self.room)
                    said = ""
                await session.lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not session.lost.is_set():
                    why = self._why_not(exc)
                    log.log(logging.DEBUG if why == said else logging.INFO,
                            "bus: room %s: %s; trying again every %g s", self.room, why,
                            self._retry_s)
                    said = why
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(session.lost.wait(), self._retry_s)
            finally:
                if consumer is not None and not session.lost.is_set():
                    with contextlib.suppress(Exception):
                        await consumer.unsubscribe()

    def _why_not(self, exc: Exception) -> str:
        """Why the room's stream cannot be read, in words."""
        import nats.js.errors

        if isinstance(exc, nats.js.errors.NotFoundError):
            return "no stream on the bus yet (the room has not published)"
        return f"cannot read the stream ({self._link.options.scrub(repr(exc))})"

    async def _attach(self, session: Session, reader: _Reader):
        """An ordered consumer for ``reader`` from where it is (or where it starts)."""
        from nats.js.api import ConsumerConfig, DeliverPolicy

        info = await session.js.stream_info(self._stream)
        first, last = info.state.first_seq, info.state.last_seq
        if reader.next_stream_seq is None:
            if reader.since_seq is None:
                reader.next_stream_seq = last + 1
                last_caption = await self._last_caption_seq(session)
                subscription = reader.subscription
                subscription.last_seq = max(subscription.last_seq, last_caption)
            else:
                reader.next_stream_seq = await self._start_after(session, reader.since_seq,
                                                                 first, last)
            # Only what the stream held at the first attach is history. After a lost
            # connection the reader goes on from its next message, and what came
            # meanwhile is news: a status the room republished from its journal (say
            # ``stopped``) must not be dropped as if it were stale.
            reader.history_until = last
        start = max(reader.next_stream_seq, first, 1)

        async def on_message(msg) -> None:
            self._receive(reader, msg.metadata.sequence.stream, msg.data)

        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                opt_start_seq=start)
        return await session.js.subscribe(self._subject, stream=self._stream,
                                          ordered_consumer=True, config=config,
                                          cb=on_message)

    def _receive(self, reader: _Reader, stream_seq: int, data: bytes) -> None:
        if reader.next_stream_seq is not None and stream_seq < reader.next_stream_seq:
            return  # read already, before a reconnect
        reader.next_stream_seq = stream_seq + 1
        try:
            published = decode_published(data)
        except CodecError as exc:
            log.warning("bus: room %s: message %d skipped (%s)", self.room, stream_seq, exc)
            return
        if published.seq is not None:
            self._remember(published.seq, stream_seq)
        elif stream_seq <= reader.history_until:
            return  # a past partial or status: catch-up is committed captions only
        reader.subscription.deliver(published)

    def _remember(self, caption_seq: int, stream_seq: int) -> None:
        self._index[caption_seq] = stream_seq
        if len(self._index) > INDEX_SIZE:
            self._index.popitem(last=False)

    async def _start_after(self, session: Session, since_seq: int, first: int,
                           last: int) -> int:
        known = self._index.get(since_seq + 1)
        if known is not None and known >= first:
            return known
        return await first_after(session.js, self.room, since_seq, first, last)

    async def _last_caption_seq(self, session: Session) -> int:
        from captioner.bus.streams import last_caption

        last = await last_caption(session.js, self.room)
        return 0 if last is None or last[1].seq is None else last[1].seq

    async def _follow_figures(self) -> None:
        subject = figures_subject(self.room)
        while True:
            session = await self._link.session()
            subscription = None

            async def on_figures(msg) -> None:
                try:
                    _, figures = decode_figures(msg.data)
                except CodecError as exc:
                    log.debug("bus: room %s: figures skipped (%s)", self.room, exc)
                    return
                self._figures = figures
                for sub in tuple(self._figure_subscriptions):
                    if not sub.closed:
                        try:
                            sub.handler(figures)
                        except Exception:  # one broken subscriber must not stop the others
                            log.exception("figures subscriber %r failed", sub.handler)

            try:
                subscription = await session.nc.subscribe(subject, cb=on_figures)
                # The server has the subscription once a PING sent after it is
                # answered. nats-py (2.16) writes a flush's PING ahead of what still
                # waits in its buffer, so the first round trip only gets the SUB out.
                await session.nc.flush()
                await session.nc.flush()
                self._figures_attached.set()
                await session.lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("bus: room %s: figures: %r", self.room, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(session.lost.wait(), self._retry_s)
            finally:
                if subscription is not None and not session.lost.is_set():
                    with contextlib.suppress(Exception):
                        await subscription.unsubscribe()
