"""The two sides of the bus benchmark (:mod:`bench.bus`), each a process of its own.

* :func:`rooms_process` holds every room: per room a :class:`~captioner.bus.local.LocalBus`
  and a :class:`~captioner.bus.publisher.RoomPublisher` on its own
  :class:`~captioner.bus.connection.BusLink` (a room is a machine of its own, with its own
  connection), and plays the synthetic caption traffic into the local buses.
* :func:`edge_process` is one serving process with, per room, a
  :class:`~captioner.delivery.broadcast.Broadcaster` behind a
  :class:`~captioner.delivery.server.CaptionServer` (the real ``/ws`` of ``captioner
  run``, one port per room). The Broadcaster is fed either from the bus (``bus``: a
  :class:`~captioner.bus.edge.JetStreamBus` per room on one link, as an edge reads it) or
  straight from a LocalBus that this process plays the same traffic into (``local``: the
  room's own server, no bus).

The traffic (:func:`schedule`, :func:`make_caption`) is the same in every process and in
both modes: it is drawn from one seed.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import random
import resource
import socket
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

from bench.viewers import proc_cpu_s, proc_mem_mb
from captioner.bus.base import CaptionBus
from captioner.bus.messages import Published
from captioner.events import Caption, Word

HOST = "127.0.0.1"

#: One cycle of a room's events: 5 partial captions (P) and 3 committed ones (C).
PATTERN = "PPCPPCPC"

TEXTS = {
    "ru": "Сегодня мы обсуждаем водные ресурсы региона и их сокращение.",
    "en": "Water resources in the region keep shrinking every single year.",
}


def room_ids(count: int) -> list[str]:
    return [f"room-{i:02d}" for i in range(count)]


# -- the traffic -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Beat:
    """One event of the traffic: when (seconds from the start), which room, which of its
    events (:func:`make_caption`)."""

    at_s: float
    room: int
    index: int


def schedule(rooms: int, seconds: float, rate: float, seed: int) -> list[Beat]:
    """Every room's events in time order: each room on its own, at ``rate`` events a
    second on average with random (exponential) gaps, as captions come when passes end,
    not on a clock.
    """
    rng = random.Random(seed)
    beats: list[Beat] = []
    for room in range(rooms):
        at, index = rng.uniform(0, 1 / rate), 0
        while at < seconds:
            beats.append(Beat(at, room, index))
            at += rng.expovariate(rate)
            index += 1
    beats.sort(key=lambda b: (b.at_s, b.room))
    return beats


def make_caption(index: int, emitted_ns: int) -> Caption:
    """A room's ``index``-th event: :data:`PATTERN` over and over, utterances alternating
    between the Russian floor and its English translation; partials grow word by word,
    and every caption carries its timed words (which the bus carries, the viewers not)."""
    cycle, pos = divmod(index, len(PATTERN))
    before = PATTERN[:pos]
    utterance = cycle * PATTERN.count("C") + before.count("C")
    final = PATTERN[pos] == "C"
    revision = len(before) - (before.rfind("C") + 1)  # partials of this utterance so far
    lang = "ru" if utterance % 2 == 0 else "en"
    words = TEXTS[lang].split()
    if not final:
        words = words[:max(2, len(words) * (revision + 1) // 3)]
    start = utterance * 2.5
    timed = tuple(Word(w, start + 0.25 * i, start + 0.25 * i + 0.2, 0.9)
                  for i, w in enumerate(words))
    return Caption(id=f"floor-{utterance:05d}", final=final, lang=lang, text=" ".join(words),
                   start_s=start, end_s=start + 0.25 * len(words), emitted_ns=emitted_ns,
                   source="floor" if lang == "ru" else "machine",
                   seq=utterance + 1 if final else None, revision=0 if final else revision,
                   words=timed)


async def play(buses: list[CaptionBus], beats: list[Beat], t0_ns: int,
               on_publish: Callable[[int, Caption], None] | None = None) -> dict:
    """Publishes the traffic into the rooms' buses on schedule from the wall-clock time
    ``t0_ns``. Each caption's ``emitted_ns`` is its scheduled time, so a late timer counts
    in the latency, in either mode. ``on_publish(room, caption)`` follows each publish."""
    loop = asyncio.get_running_loop()
    base = loop.time() + (t0_ns - time.time_ns()) / 1e9
    late_ms = array("d")
    committed = [0] * len(buses)
    partials = [0] * len(buses)
    cpu0 = proc_cpu_s()
    started = loop.time()
    for beat in beats:
        due = base + beat.at_s
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        late_ms.append(max(0.0, loop.time() - due) * 1000)
        caption = make_caption(beat.index, t0_ns + round(beat.at_s * 1e9))
        buses[beat.room].publish(caption)
        if on_publish is not None:
            on_publish(beat.room, caption)
        if caption.final:
            committed[beat.room] += 1
        else:
            partials[beat.room] += 1
    return {"committed": committed, "partials": partials, "late_ms": late_ms.tobytes(),
            "cpu_s": proc_cpu_s() - cpu0, "wall_s": loop.time() - started}


# -- measuring a process -----------------------------------------------------------------------


async def recv(conn: Connection, timeout_s: float):
    """The parent's next command, without blocking the event loop."""
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, conn.poll, timeout_s):
        raise TimeoutError("no word from the parent process")
    return conn.recv()


class LoopWatch:
    """How late the event loop wakes up (a 20 ms timer): an edge that falls behind its
    viewers shows here; and how long Python's garbage collector held it, by generation."""

    def __init__(self) -> None:
        self.late_ms = array("d")
        self.gc_ms: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._gc_started = 0.0
        self._task: asyncio.Task | None = None

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_ms[info["generation"]].append((time.perf_counter() - self._gc_started) * 1e3)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        gc.callbacks.append(self._on_gc)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.02
            await asyncio.sleep(0.02)
            self.late_ms.append(max(0.0, loop.time() - due) * 1000)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)


# -- the rooms -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoomsSpec:
    """What the rooms process runs: ``rooms`` rooms on the bus at ``url``, playing the
    traffic of :func:`schedule` (``seconds``, ``rate``, ``seed``); what it measures counts
    from ``warmup_s`` in."""

    url: str
    rooms: int
    seconds: float
    rate: float
    seed: int
    warmup_s: float = 0.0
    ready_timeout_s: float = 60.0


def rooms_process(conn: Connection, spec: RoomsSpec) -> None:
    logging.basicConfig(level=logging.WARNING)
    try:
        asyncio.run(_rooms(conn, spec), debug=False)  # debug mode distorts timings
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass  # the parent went away: nothing to report to


async def _rooms(conn: Connection, spec: RoomsSpec) -> None:
    from captioner.bus.connection import BusLink, BusOptions
    from captioner.bus.local import LocalBus
    from captioner.bus.publisher import PublisherState, RoomPublisher

    changed = asyncio.Event()

    def on_state(_state: PublisherState) -> None:
        changed.set()

    buses, links, publishers = [], [], []
    for room in room_ids(spec.rooms):
        bus = LocalBus(room)
        link = BusLink(BusOptions(spec.url, name=room))
        # No journal: nothing is lost in this run, so nothing is replayed from one.
        publisher = RoomPublisher(link, bus, replay=lambda after: [], on_state=on_state,
                                  figures=False)
        buses.append(bus)
        links.append(link)
        publishers.append(publisher)
    try:
        for publisher in publishers:
            await publisher.start()
        async with asyncio.timeout(spec.ready_timeout_s):
            while not all(p.state.state == "connected" for p in publishers):
                changed.clear()
                await changed.wait()
        conn.send(("ready",))
        command, t0_ns = await recv(conn, spec.ready_timeout_s + 600)
        assert command == "go"
        beats = schedule(spec.rooms, spec.seconds, spec.rate, spec.seed)
        measure_from_ns = t0_ns + round(spec.warmup_s * 1e9)
        acked_ms = array("d")
        trackers: set[asyncio.Task] = set()

        async def track(publisher: RoomPublisher, caption: Caption) -> None:
            assert caption.seq is not None
            await publisher.wait_acked(caption.seq)
            acked_ms.append((time.time_ns() - caption.emitted_ns) / 1e6)

        def on_publish(room: int, caption: Caption) -> None:
            # How long a committed caption takes to be stored and acknowledged.
            if caption.final and caption.emitted_ns >= measure_from_ns:
                task = asyncio.get_running_loop().create_task(track(publishers[room], caption))
                trackers.add(task)
                task.add_done_callback(trackers.discard)

        stats = await play(buses, beats, t0_ns, on_publish)
        acked = True
        try:
            async with asyncio.timeout(30):
                for publisher, committed in zip(publishers, stats["committed"], strict=True):
                    if committed:
                        await publisher.wait_acked(committed)
        except TimeoutError:
            acked = False
        for task in trackers:
            task.cancel()
        stats.update(acked_ms=acked_ms.tobytes(), acked=acked, sent=sum(p.sent for p in publishers),
                     dropped=sum(p.dropped for p in publishers),
                     states=sorted({p.state.state for p in publishers}))
        conn.send(("done", stats))
        await recv(conn, 600)  # "stop"
    finally:
        for publisher in publishers:
            await publisher.close(timeout_s=1.0)
        for link in links:
            await link.close()


# -- an edge (or, without the bus, the rooms' own servers) -------------------------------------


@dataclass(frozen=True)
class EdgeSpec:
    """One serving process.

    Attributes:
        index: Which edge.
        mode: ``bus`` (read the rooms from the bus at ``url``) or ``local`` (each room's
            LocalBus straight into its Broadcaster, the traffic played here).
        rooms, seconds, rate, seed: The rooms and their traffic (:func:`schedule`).
        client_queue: The Broadcaster's per-viewer queue.
        max_clients: Viewers a room's server takes.
        server_sndbuf: SO_SNDBUF of the viewers' sockets (0: the kernel's autotuning).
    """

    index: int
    mode: str
    url: str | None
    rooms: int
    seconds: float
    rate: float
    seed: int
    client_queue: int = 256
    max_clients: int = 10_000
    server_sndbuf: int = 0
    ready_timeout_s: float = 60.0


class _Forward:
    """The edge's subscriber: into the room's Broadcaster, noting on the way how long the
    caption took from the room's publish to here (the bus's share of the latency) and
    what its fan-out cost: CPU time (the edge's own work) and wall time (with the waits
    for a CPU)."""

    def __init__(self) -> None:
        self.measuring = False
        self.arrival_ms = array("d")
        self.fanout_cpu_ms = array("d")
        self.fanout_wall_ms = array("d")

    def __call__(self, broadcaster, published: Published) -> None:
        event = published.event
        if not self.measuring or not isinstance(event, Caption):
            broadcaster.publish(event)
            return
        self.arrival_ms.append((time.time_ns() - event.emitted_ns) / 1e6)
        cpu, wall = time.thread_time(), time.perf_counter()
        broadcaster.publish(event)
        self.fanout_cpu_ms.append((time.thread_time() - cpu) * 1e3)
        self.fanout_wall_ms.append((time.perf_counter() - wall) * 1e3)


async def _play_here(conn: Connection, spec: EdgeSpec, buses: list[CaptionBus],
                     t0_ns: int) -> None:
    """Without the bus, the rooms' traffic is played in the serving process itself."""
    try:
        stats = await play(buses, schedule(spec.rooms, spec.seconds, spec.rate, spec.seed),
                           t0_ns)
    except Exception as exc:
        conn.send(("error", repr(exc)))
        raise
    conn.send(("played", stats))


def edge_process(conn: Connection, spec: EdgeSpec) -> None:
    logging.basicConfig(level=logging.WARNING)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = spec.max_clients * spec.rooms + 256
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, want), hard), hard))
    try:
        asyncio.run(_edge(conn, spec), debug=False)
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass


async def _edge(conn: Connection, spec: EdgeSpec) -> None:
    from captioner.bus.connection import BusLink, BusOptions
    from captioner.bus.edge import JetStreamBus
    from captioner.bus.local import LocalBus
    from captioner.delivery.broadcast import Broadcaster
    from captioner.delivery.server import CaptionServer

    link = None
    buses: list[CaptionBus] = []
    broadcasters: list[Broadcaster] = []
    servers: list[CaptionServer] = []
    forward = _Forward()
    watch = LoopWatch()
    player: asyncio.Task | None = None
    try:
        if spec.mode == "bus":
            assert spec.url is not None
            link = BusLink(BusOptions(spec.url, name=f"edge-{spec.index}"))
            await link.open()
        for room in room_ids(spec.rooms):
            bus = JetStreamBus(link, room) if link is not None else LocalBus(room)
            broadcaster = Broadcaster(client_queue=spec.client_queue,
                                      max_clients=spec.max_clients)
            # As build_serving does: from the start, every event into the fan-out.
            subscription = bus.subscribe(functools.partial(forward, broadcaster), since_seq=0)
            server = CaptionServer(broadcaster, host=HOST, port=0)
            await server.start()
            if spec.server_sndbuf:
                # Accepted sockets inherit it from the listening socket (bench.viewers).
                for sock in getattr(getattr(server, "_server", None), "sockets", ()):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, spec.server_sndbuf)
            if isinstance(bus, JetStreamBus):
                async with asyncio.timeout(spec.ready_timeout_s):
                    await bus.wait_attached(subscription)
            buses.append(bus)
            broadcasters.append(broadcaster)
            servers.append(server)
        conn.send(("ports", [s.port for s in servers], proc_mem_mb()[0]))
        cpu0 = wall0 = 0.0
        viewers_at_start = 0
        while True:
            command = await recv(conn, spec.ready_timeout_s + spec.seconds + 900)
            if isinstance(command, tuple) and command[0] == "go":  # local mode
                player = asyncio.create_task(_play_here(conn, spec, buses, command[1]))
            elif command == "measure":
                cpu0, wall0 = proc_cpu_s(), time.monotonic()
                viewers_at_start = sum(b.viewer_count for b in broadcasters)
                forward.measuring = True
                watch.start()
            elif command == "report":
                forward.measuring = False
                watch.stop()
                rss, peak = proc_mem_mb()
                conn.send(("report", {
                    "cpu_s": proc_cpu_s() - cpu0, "wall_s": time.monotonic() - wall0,
                    "rss": rss, "rss_peak": peak,
                    "viewers_at_start": viewers_at_start,
                    "viewers_at_end": sum(b.viewer_count for b in broadcasters),
                    "dropped": sum(b.dropped_viewers for b in broadcasters),
                    "last_seq": [b.last_seq or 0 for b in broadcasters],
                    "arrival_ms": forward.arrival_ms.tobytes(),
                    "fanout_cpu_ms": forward.fanout_cpu_ms.tobytes(),
                    "fanout_wall_ms": forward.fanout_wall_ms.tobytes(),
                    "loop_late_ms": watch.late_ms.tobytes(),
                    "gc_ms": watch.gc_ms,
                }))
            elif command == "stop":
                return
    finally:
        watch.stop()
        if player is not None:
            player.cancel()
        for server in servers:
            await server.close()
        for bus in buses:
            await bus.close()
        if link is not None:
            await link.close()
