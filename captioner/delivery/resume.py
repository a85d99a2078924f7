"""A viewer's resume on a serving edge: from the edge's memory, else from JetStream, then
live from the room's shared fan-out, with no caption missing or sent twice.

An edge reads each room once (one bus subscription from 0 feeding one
:class:`~captioner.delivery.broadcast.Broadcaster`), and the broadcaster remembers a
bounded history per track. A viewer that reconnects with ``?since=K`` (from this edge or
another one) is served in one of two ways:

* **from memory** (:func:`from_memory` holds): the broadcaster has every caption after
  ``K`` it was given (:meth:`~captioner.delivery.broadcast.CatchUp.holds_after`) and has
  been given ``K`` itself; :meth:`~captioner.delivery.broadcast.Broadcaster.attach` then
  sends the captions after ``K`` and registers the viewer for what follows, in one step;
* **from JetStream** otherwise (the viewer is further behind than the memory reaches, or
  ahead of this edge, which is still reading the room): a :class:`Resume` opens a bus
  subscription of its own from ``K``, which sends the viewer the committed captions
  after ``K`` that the stream holds, then the room's events live, into a bounded queue
  of the viewer's. Each committed caption it passes on moves the viewer's resume point
  ``K`` up; whenever ``K`` moves, and whenever the shared fan-out takes a caption
  (:meth:`Resume.try_join`), the edge asks again whether memory can serve the viewer
  from ``K``. The first time it can, in that same step on the event loop, the private
  subscription is closed and the viewer is attached to the broadcaster from ``K``: the
  broadcaster sends the captions after ``K`` from memory and the live fan-out after
  them. Everything up to ``K`` came from the stream, everything after ``K`` from the
  broadcaster, and ``K`` is one number, so nothing is missed or repeated. The join
  always comes: the private subscription reads the stream faster than the room speaks,
  and the memory always holds its own last caption.

Partial captions and statuses are live only; around the join a viewer may get a partial
or a status twice (they are replaced, not appended), never a committed caption. The
viewer gets one ``hello`` (the join's own is left out), and the statuses in memory when
it joins.

A resume's queue is bounded (``queue_size``): a viewer that cannot take the catch-up as
fast as the stream gives it is cut off, like a slow viewer of the fan-out, and reconnects
from where it got to; ``docs/deploy.md`` tells how an edge limits resumes at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from captioner.bus.base import CaptionBus, Subscription
from captioner.bus.messages import Published
from captioner.delivery.broadcast import Broadcaster, TooManyViewers, Viewer, dumps
from captioner.delivery.server import send_viewer
from captioner.delivery.wire import caption_to_dict, status_to_dict
from captioner.events import Caption

log = logging.getLogger(__name__)

#: Messages a resuming viewer may have waiting before it is cut off.
RESUME_QUEUE = 4096


def resume_point(broadcaster: Broadcaster, since_seq: int | None,
                 session: str | None) -> int | None:
    """The resume point the edge honours: None for a viewer of another session (its
    numbers mean nothing here: it gets the whole history, as from a room's server)."""
    if session is not None and session != broadcaster.session:
        return None
    return since_seq


def from_memory(broadcaster: Broadcaster, since_seq: int | None) -> bool:
    """Whether the broadcaster alone can resume a viewer that has every caption up to
    ``since_seq``: it remembers everything after it, and it has read that far."""
    if since_seq is None:
        return True
    catchup = broadcaster.catchup
    return catchup.holds_after(since_seq) and since_seq <= (catchup.last_seq or 0)


class Resume:
    """One viewer catching up from the room's stream until it joins the fan-out.

    Args:
        bus: The room's bus (a :class:`~captioner.bus.edge.JetStreamBus` on an edge).
        broadcaster: The room's shared fan-out on this edge.
        since_seq: The viewer's resume point (after :func:`resume_point`).
        session: The session it named, passed on to the broadcaster.
        queue_size: Messages it may have waiting before it is cut off.
        on_join: Called once, synchronously, when the viewer joins the fan-out.

    Attributes:
        last_seq: The last committed caption the viewer has been given (or had).
        viewer: The viewer's place in the fan-out, once joined.
        cut_off: Set when the viewer is cut off (too slow, or too many viewers).
    """

    def __init__(self, bus: CaptionBus, broadcaster: Broadcaster, since_seq: int,
                 session: str | None, *, queue_size: int = RESUME_QUEUE,
                 on_join: Callable[[Resume], None] | None = None) -> None:
        if queue_size < 4:
            raise ValueError("queue_size must be at least 4")
        self.last_seq = since_seq
        self.viewer: Viewer | None = None
        self.cut_off = asyncio.Event()
        self._broadcaster = broadcaster
        self._session = session
        self._on_join = on_join
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(queue_size)
        # The fan-out's hello, but the gap it may see in its memory is filled from the
        # stream here.
        self._hello = dumps({**broadcaster.catchup.hello(since_seq, session), "gap": False})
        self._subscription: Subscription | None = None
        # A bus may deliver what it holds at once, inside subscribe (the in-process one
        # does): the resume may have joined, or been cut off, before it returns.
        subscription = bus.subscribe(self._receive, since_seq=since_seq)
        if self.joined or self.cut_off.is_set():
            subscription.close()
        else:
            self._subscription = subscription

    @property
    def joined(self) -> bool:
        return self.viewer is not None

    def _receive(self, published: Published) -> None:
        if self.joined or self.cut_off.is_set():
            return
        event = published.event
        caption = isinstance(event, Caption)
        msg = caption_to_dict(event) if caption else status_to_dict(event)
        queue = self._queue
        if caption and not event.final and queue.qsize() >= queue.maxsize // 2:
            return  # partials are latest-wins, as in the fan-out
        if queue.qsize() >= queue.maxsize - 1:  # the last place is the join's
            log.info("resuming viewer cut off: %d messages queued (too slow)", queue.qsize())
            self._cut()
            return
        queue.put_nowait(dumps(msg))
        if published.seq is not None:
            self.last_seq = published.seq
            self.try_join()

    def try_join(self) -> bool:
        """Joins the fan-out if memory can now serve the viewer from :attr:`last_seq`.

        Called after each caption this resume passes on, and by the edge after each
        caption the fan-out takes. Returns whether the viewer has joined.
        """
        if self.joined or self.cut_off.is_set():
            return self.joined
        if not from_memory(self._broadcaster, self.last_seq):
            return False
        self._stop_reading()
        try:
            viewer = self._broadcaster.attach(self.last_seq, self._session,
                                              on_drop=self.cut_off.set)
        except TooManyViewers:
            self._cut()
            return False
        viewer.backlog = viewer.backlog[1:]  # its hello: this viewer has had one
        self.viewer = viewer
        self._queue.put_nowait(None)  # the sender goes on with the viewer from here
        if self._on_join is not None:
            self._on_join(self)
        return True

    async def send(self, ws) -> None:
        """Sends the viewer its messages: the hello, the catch-up, then the fan-out's."""
        from websockets.exceptions import ConnectionClosed

        try:
            await ws.send(self._hello, text=True)
            while (data := await self._queue.get()) is not None:
                await ws.send(data, text=True)
        except ConnectionClosed:
            return
        assert self.viewer is not None
        await send_viewer(ws, self.viewer)

    def _stop_reading(self) -> None:
        if self._subscription is not None:
            self._subscription.close()

    def _cut(self) -> None:
        self._stop_reading()
        self.cut_off.set()

    def close(self) -> None:
        """Stops the resume and leaves the fan-out (idempotent)."""
        self._stop_reading()
        if self.viewer is not None:
            self._broadcaster.detach(self.viewer)
