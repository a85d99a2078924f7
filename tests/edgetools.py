"""Rooms on a real bus and viewers of a serving edge, for the edge tests.

A :class:`ScriptedRoom` is a room without audio: its own bus, a real journal and a
:class:`~captioner.bus.publisher.RoomPublisher`, saying scripted captions. A
:class:`FeedViewer` is a real websocket client that keeps what an edge sends it and,
like ``web_overlay/feed.js``, reconnects with ``?since=SEQ&session=...``.
Every wait is on an event, bounded by a generous timeout only a broken build reaches.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from captioner.bus.connection import BusLink, BusOptions
from captioner.bus.local import LocalBus
from captioner.bus.messages import RoomFigures
from captioner.bus.publisher import PublisherState, RoomPublisher
from captioner.config import load_config
from captioner.delivery.edge import Edge, EdgePlan, start_edge
from captioner.events import Caption, Status
from captioner.record.journal import Journal, is_journaled
from captioner.record.replay import journal_replay

WAIT_S = 60.0


async def until(predicate, changed: asyncio.Event) -> None:
    """Waits until ``predicate()`` holds, looking again each time ``changed`` is set."""
    async with asyncio.timeout(WAIT_S):
        while not predicate():
            changed.clear()
            await changed.wait()


def caption(room: str, seq: int, lang: str | None = None) -> Caption:
    lang = lang or ("ru" if seq % 3 == 0 else "en")
    return Caption(id=f"{room}-{seq}", final=True, lang=lang, text=f"{room} caption {seq}",
                   start_s=seq * 2.0, end_s=seq * 2.0 + 1.5, emitted_ns=time.time_ns(),
                   seq=seq)


def partial(room: str, seq: int) -> Caption:
    return Caption(id=f"{room}-{seq}", final=False, lang="en", text=f"{room} capt {seq}",
                   start_s=seq * 2.0, end_s=seq * 2.0 + 1.0, emitted_ns=time.time_ns(),
                   revision=1)


class ScriptedRoom:
    """A room that says what a test scripts, journaled and published to the bus."""

    def __init__(self, url: str, folder: Path, room: str, **login: str) -> None:
        self.room = room
        self.bus = LocalBus(room)
        journal = folder / f"{room}.jsonl"
        self.journal = Journal(journal, fsync_interval_s=3600)
        self.link = BusLink(BusOptions(url, **login), retry_s=0.05, max_retry_s=0.5)
        self.changed = asyncio.Event()
        self.publisher = RoomPublisher(self.link, self.bus,
                                       replay=journal_replay(lambda: [journal]),
                                       on_state=self._on_state, retry_s=0.1)
        self.said: list[Caption] = []
        self.seq = 0

    def _on_state(self, state: PublisherState) -> None:
        self.changed.set()

    async def start(self) -> None:
        await self.publisher.start()
        await until(lambda: self.publisher.state.state == "connected", self.changed)

    def say(self, *events: Caption | Status) -> None:
        """As a room does: journal first, then its bus; never waits."""
        for event in events:
            if is_journaled(event):
                self.journal.append(event)
            if isinstance(event, Caption) and event.final:
                self.said.append(event)
            self.bus.publish(event)

    def speak(self, count: int) -> int:
        """Says ``count`` more committed captions, each after its partial; returns the
        last ``seq``."""
        for _ in range(count):
            self.seq += 1
            self.say(partial(self.room, self.seq), caption(self.room, self.seq))
        return self.seq

    def figures(self, **fields) -> None:
        self.bus.publish_figures(RoomFigures(at_ns=time.time_ns(), **fields))

    async def wait_acked(self, seq: int | None = None) -> None:
        async with asyncio.timeout(WAIT_S):
            await self.publisher.wait_acked(self.seq if seq is None else seq)

    async def close(self) -> None:
        await self.publisher.close()
        await self.link.close()
        self.journal.close()


async def edge(url: str, *, history: int = 500, on_change=None, settings=(),
               **plan) -> Edge:
    """An edge in this process on a free loopback port (``settings``: config overrides)."""
    cfg = load_config(None, [f"server.history_per_track={history}", *settings])
    return await start_edge(cfg, EdgePlan(bus_url=url, host="127.0.0.1", port=0,
                                          poll_s=plan.pop("poll_s", 0.2), **plan),
                            on_change=on_change)


class FeedViewer:
    """One viewer of one room: what it was sent, when, and where it would resume.

    Args:
        room: The room.
        path: The feed's path: the room's on an edge (``/r/ROOM/ws``), else ``/ws`` for
            the room's own server.
    """

    def __init__(self, room: str, path: str | None = None) -> None:
        self.room = room
        self.path = path or f"/r/{room}/ws"
        self.messages: list[dict] = []
        self.received_at: list[float] = []  # time.time() when each of messages came
        self.hellos: list[dict] = []
        self.changed = asyncio.Event()
        self.session: str | None = None
        self.last_seq: int | None = None
        self.closed: asyncio.Event = asyncio.Event()
        self.close_code: int | None = None
        self._task: asyncio.Task | None = None

    @property
    def captions(self) -> list[dict]:
        return [m for m in self.messages if m["type"] == "caption" and m["final"]]

    @property
    def seqs(self) -> list[int]:
        return [m["seq"] for m in self.captions]

    async def connect(self, port: int, *, resume: bool = True) -> None:
        """Connects to an edge's feed of the room (resuming when it has a point) and
        returns once the edge said hello."""
        query = ""
        if resume and self.last_seq is not None:
            query = f"?since={self.last_seq}&session={self.session}"
        hellos = len(self.hellos)
        ws = await connect(f"ws://127.0.0.1:{port}{self.path}{query}")
        self.closed = asyncio.Event()
        self._task = asyncio.create_task(self._read(ws))
        await until(lambda: len(self.hellos) > hellos or self.closed.is_set(), self.changed)
        if len(self.hellos) == hellos:
            raise ConnectionError(f"closed before its hello ({self.close_code})")

    async def _read(self, ws) -> None:
        try:
            async for raw in ws:
                msg = json.loads(raw)
                if msg["type"] == "hello":
                    self.hellos.append(msg)
                    self.session = msg["session"]
                else:
                    self.messages.append(msg)
                    self.received_at.append(time.time())
                    if msg["type"] == "caption" and msg["final"]:
                        self.last_seq = msg["seq"]
                self.changed.set()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = ws.close_code
            await ws.close()
            self.closed.set()
            self.changed.set()

    async def wait_seq(self, seq: int) -> None:
        await until(lambda: (self.last_seq or 0) >= seq, self.changed)

    async def wait_closed(self) -> None:
        async with asyncio.timeout(WAIT_S):
            await self.closed.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
