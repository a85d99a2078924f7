"""A serving edge: every room on the bus, read once each, served to any number of viewers.

``captioner serve --bus URL`` runs no audio and no model. It finds the rooms on the bus
(:func:`~captioner.bus.jetstream.list_rooms`, again every few seconds, so rooms appear as
they start publishing), and for each one keeps an :class:`EdgeRoom`: one
:class:`~captioner.bus.edge.JetStreamBus` subscription from the room's first caption,
fanned out to the room's viewers by a :class:`~captioner.delivery.broadcast.Broadcaster`
(as a room's own server does), and the room's title and state for the venue index
(:class:`~captioner.delivery.venue.RoomState`). Viewers that resume are served from the
broadcaster's memory or, further back, from the stream (:mod:`captioner.delivery.resume`).
:mod:`captioner.delivery.edgeserver` serves the HTTP and the websockets.

Edges are read-only and hold no state of their own: any number of them can run behind
a reverse proxy, and a viewer can resume on any of them (docs/deploy.md). A room's
caption-session id on every edge is derived from its stream (its name and creation
time), so ``?since=N&session=S`` means the same on each; a stream made anew (the room's
stream removed, another run) is another session.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from captioner.bus.base import Subscription
from captioner.bus.codec import decode_published
from captioner.bus.connection import BusError, BusLink, BusOptions
from captioner.bus.edge import JetStreamBus
from captioner.bus.jetstream import RoomInfo, list_rooms
from captioner.bus.messages import Published
from captioner.bus.names import events_subject, stream_name
from captioner.config import Config
from captioner.delivery.broadcast import Broadcaster
from captioner.delivery.resume import RESUME_QUEUE, Resume
from captioner.delivery.venue import RoomState
from captioner.delivery.views import DEFAULT_WEB_ROOT
from captioner.delivery.wire import layout_to_dict
from captioner.errors import CaptionerError

log = logging.getLogger(__name__)

#: Seconds between two looks at the list of rooms on the bus.
POLL_S = 3.0
#: Viewers resuming from the stream at once, over all rooms; more are asked to come back.
MAX_RESUMES = 64
#: Seconds a new room's reader may take to attach before the edge goes on without it.
ATTACH_WAIT_S = 10.0


def room_session(room: str, created_ns: int | None) -> str:
    """The caption-session id of a room's stream, the same on every edge."""
    return hashlib.sha256(f"{room}\n{created_ns}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EdgePlan:
    """What an edge is asked to do.

    Attributes:
        bus_url: The bus (None: ``[bus] url``); credentials come from ``[bus]``.
        host: The address to serve on (None: ``[server] host``).
        port: The port (None: ``[server] port``; 0 picks a free one).
        poll_s: Seconds between two looks at the list of rooms.
        max_resumes: Viewers resuming from the stream at once (all rooms).
        resume_queue: Messages a resuming viewer may have waiting.
        web_root: The views.
    """

    bus_url: str | None = None
    host: str | None = None
    port: int | None = None
    poll_s: float = POLL_S
    max_resumes: int = MAX_RESUMES
    resume_queue: int = RESUME_QUEUE
    web_root: Path = DEFAULT_WEB_ROOT


class EdgeRoom:
    """One room as an edge serves it.

    Args:
        bus: The room read from the bus.
        broadcaster: The room's fan-out on this edge.
        created_ns: When the room's stream was made (which stream this is).
        heard_ns: When the room last emitted a caption, as the listing says.
        last_seq: The last caption on the bus, as the listing says: the fan-out has
            read the room's history (:attr:`caught_up`) once it has that one.
    """

    def __init__(self, bus: JetStreamBus, broadcaster: Broadcaster, *,
                 created_ns: int | None = None, heard_ns: int | None = None,
                 last_seq: int | None = None) -> None:
        self.room = bus.room
        self.bus = bus
        self.broadcaster = broadcaster
        self.created_ns = created_ns
        self.state = RoomState(bus.room)
        self.state.heard(heard_ns)
        self.resumes: set[Resume] = set()
        self.connections: set = set()
        self.caught_up = asyncio.Event()
        self._history_seq = last_seq or 0
        if not self._history_seq:
            self.caught_up.set()
        self._subscriptions: list[Subscription] = []

    async def start(self, last_status: Published | None = None) -> None:
        """Starts reading the room; returns once its stream is being read.

        Args:
            last_status: The room's last status on the bus (a stream's past statuses are
                not replayed): for the index, and for viewers (a paused room's viewers
                learn that it is paused).
        """
        if last_status is not None:
            self.state.event(last_status.event)
            self.broadcaster.publish(last_status.event)
        shared = self.bus.subscribe(self._on_event, since_seq=0)
        figures = self.bus.subscribe_figures(self.state.figures)
        self._subscriptions += [shared, figures]
        try:
            await asyncio.wait_for(self.bus.wait_attached(shared), ATTACH_WAIT_S)
        except TimeoutError:  # it goes on trying: the room is served once it can be read
            log.warning("edge: room %s: its stream cannot be read yet (a permission?)",
                        self.room)

    def _on_event(self, published: Published) -> None:
        self.state.event(published.event)
        self.broadcaster.publish(published.event)
        if published.seq is not None:
            if published.seq >= self._history_seq:
                self.caught_up.set()
            for resume in tuple(self.resumes):
                resume.try_join()

    def resume(self, since_seq: int, session: str | None, *, queue_size: int) -> Resume:
        """A viewer's resume from the stream (:mod:`captioner.delivery.resume`)."""
        resume = Resume(self.bus, self.broadcaster, since_seq, session,
                        queue_size=queue_size, on_join=self.resumes.discard)
        if not resume.joined:
            self.resumes.add(resume)
        return resume

    async def close(self) -> None:
        """Stops reading the room and closes its viewers' connections (1001)."""
        for subscription in self._subscriptions:
            subscription.close()
        for resume in tuple(self.resumes):
            resume.close()
        self.resumes.clear()
        await self.bus.close()
        closing = [ws.close(1001, "the room left the bus") for ws in tuple(self.connections)]
        if closing:
            await asyncio.wait([asyncio.ensure_future(c) for c in closing], timeout=2.0)


class Venue:
    """The rooms on the bus, as one edge serves them.

    Args:
        link: The edge's connection to the bus (open).
        make_broadcaster: Builds a room's fan-out, given its session id.
        poll_s: Seconds between two looks at the list of rooms.
        on_change: Called after a look that added or removed rooms.
    """

    def __init__(self, link: BusLink, make_broadcaster: Callable[[str], Broadcaster], *,
                 poll_s: float = POLL_S, on_change: Callable[[], None] | None = None) -> None:
        self.link = link
        self.rooms: dict[str, EdgeRoom] = {}
        self._make_broadcaster = make_broadcaster
        self._poll_s = poll_s
        self._on_change = on_change
        self._task: asyncio.Task | None = None

    async def refresh(self) -> bool:
        """Looks at the list of rooms once: starts reading new ones, drops those gone
        (or whose stream was made anew). Returns whether anything changed.

        Raises:
            BusError: the bus cannot be reached.
        """
        listed = {info.room: info for info in await list_rooms(self.link)}
        changed = False
        for room, current in list(self.rooms.items()):
            info = listed.get(room)
            if info is None or info.created_ns != current.created_ns:
                log.info("edge: room %s %s", room,
                         "left the bus" if info is None else "has a new stream")
                del self.rooms[room]
                await current.close()
                changed = True
        for room, info in listed.items():
            if room not in self.rooms:
                await self._add(info)
                changed = True
        if changed and self._on_change is not None:
            self._on_change()
        return changed

    async def _add(self, info: RoomInfo) -> None:
        bus = JetStreamBus(self.link, info.room)
        broadcaster = self._make_broadcaster(room_session(info.room, info.created_ns))
        room = EdgeRoom(bus, broadcaster, created_ns=info.created_ns,
                        heard_ns=info.last_caption_ns, last_seq=info.last_caption_seq)
        self.rooms[info.room] = room
        await room.start(await self._last_status(info.room))
        log.info("edge: serving room %s", info.room)

    async def _last_status(self, room: str) -> Published | None:
        session = self.link.current
        if session is None:
            return None
        try:
            msg = await session.js.get_last_msg(stream_name(room),
                                                events_subject(room, "status"))
            return decode_published(msg.data or b"")
        except Exception as exc:  # none yet, or unreadable: not needed
            log.debug("edge: room %s: no last status (%r)", room, exc)
            return None

    def start(self) -> None:
        """Looks at the list of rooms every ``poll_s`` from now on."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._poll(),
                                                                name="edge-rooms")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                await self.refresh()
            except BusError as exc:  # the link says so and connects again
                log.debug("edge: rooms not listed: %s", exc.message)
            except Exception:
                log.exception("edge: looking at the rooms failed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for room in list(self.rooms.values()):
            await room.close()
        self.rooms.clear()


@dataclass
class Edge:
    """A running edge: its link, its rooms and its server."""

    link: BusLink
    venue: Venue
    server: object

    @property
    def port(self) -> int:
        return self.server.port  # type: ignore[attr-defined]

    async def close(self) -> None:
        await self.server.close()  # type: ignore[attr-defined]
        await self.venue.close()
        await self.link.close()


async def start_edge(cfg: Config, plan: EdgePlan, *,
                     on_change: Callable[[], None] | None = None) -> Edge:
    """Connects to the bus, starts reading every room on it, and starts serving: the
    composition root of an edge.

    Raises:
        BusError: the bus URL is wrong, or the bus cannot be reached or refused us.
        CaptionerError: no bus was given, or the port is taken.
    """
    from captioner.delivery.edgeserver import EdgeServer

    url = plan.bus_url or cfg.bus.url
    if not url:
        raise CaptionerError("captioner serve needs the bus it serves the rooms of",
                             hint="--bus nats://HOST:4222, or [bus] url in the config")
    link = BusLink(BusOptions.from_config(cfg.bus, url=url))
    try:
        await link.open()
    except BusError as exc:
        if exc.kind != "refused":
            raise
        # Its hint is a room's (which goes on in local mode); an edge has nothing to serve.
        raise BusError(exc.message, "is nats-server running there, on that port? "
                       "A firewall?", kind=exc.kind) from None

    def make_broadcaster(session: str) -> Broadcaster:
        return Broadcaster(history_per_track=cfg.server.history_per_track,
                           client_queue=cfg.server.client_queue,
                           max_clients=cfg.server.max_clients, session=session,
                           layout=layout_to_dict(cfg.captions))

    venue = Venue(link, make_broadcaster, poll_s=plan.poll_s, on_change=on_change)
    server = EdgeServer(venue, host=plan.host or cfg.server.host,
                        port=cfg.server.port if plan.port is None else plan.port,
                        web_root=plan.web_root, max_resumes=plan.max_resumes,
                        resume_queue=plan.resume_queue)
    try:
        await venue.refresh()
        venue.start()
        try:
            await server.start()
        except OSError as exc:
            raise CaptionerError(f"cannot serve on port {server.port}: "
                                 f"{exc.strerror or exc}",
                                 hint="another captioner may be running; use --port") from None
    except BaseException:
        await venue.close()
        await link.close()
        raise
    return Edge(link, venue, server)


async def run_edge(cfg: Config, plan: EdgePlan) -> int:
    """``captioner serve``: serves until Ctrl-C or SIGTERM; returns the exit status."""
    edge = await start_edge(cfg, plan)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        urls = edge.server.urls()  # type: ignore[attr-defined]
        rooms = ", ".join(sorted(edge.venue.rooms)) or "none yet (they appear as they start)"
        print(f"captioner: serving the rooms on the bus at {edge.link.url}\n"
              f"  index    {urls['index']}\n"
              f"  rooms    {rooms}\n"
              f"  a room   {urls['room']}", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await edge.close()
    print("captioner: edge stopped", file=sys.stderr)
    return 0
