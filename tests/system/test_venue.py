"""A venue on one machine, every part real: a nats-server; two rooms, each a ``captioner
run --bus`` with the Whisper model on synthesised speech and its own views; two serving
edges (``captioner serve``); the archive (``captioner archive``); and websocket viewers
of both rooms on both edges and on each room's own server. Midway the nats-server is
stopped for at least 10 s and started again on the same port with the same store.

Two Whisper rooms take a minute or two on two cores, so the venue runs once for the
module (:func:`venue`), recording what each part saw, and each test checks one claim of
issue 20 about that run. Every wait is on something seen, with a generous timeout;
nothing asserts a latency, and captions are compared with the rooms' journals, never
with what the clips say (the model's words differ between CPU instruction sets).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from bench.nats_server import NatsServer
from captioner.inputs.audio import decode_file
from captioner.synth import silence, write_wav
from tests import nats_server as broker
from tests.edgetools import FeedViewer
from tests.httptools import http_get
from tests.venuetools import WAIT_S, Child, StayingViewer, committed, journal_lines

pytestmark = pytest.mark.integration

#: What each room says: clips of the suite with pauses, long enough that captions are
#: committed before, during and after the outage.
SPEECH = {"hall-a": ("en_welcome", "ru_water", "en_water", "ru_welcome", "en_water"),
          "hall-b": ("ru_welcome", "en_water", "ru_water", "en_welcome", "ru_water")}
TITLES = {"hall-a": "Hall A · Water & climate", "hall-b": "Зал Б · Финансы"}
OUTAGE_S = 10.0


@dataclass
class VenueRun:
    """What the parts of the venue saw, for the tests to check."""

    journals: dict[str, list[dict]] = field(default_factory=dict)
    archived: dict[str, list[dict]] = field(default_factory=dict)
    #: (edge, room) -> the captions of a viewer connected from the start.
    viewers: dict[tuple[int, str], list[dict]] = field(default_factory=dict)
    #: (edge, room) -> how often the edge dropped that viewer (it came back with since).
    drops: dict[tuple[int, str], int] = field(default_factory=dict)
    #: (edge, room) -> the captions a viewer connecting at the end was sent.
    late: dict[tuple[int, str], list[dict]] = field(default_factory=dict)
    #: room -> receipt time and caption of each caption its own server's viewer got.
    local: dict[str, list[tuple[float, dict]]] = field(default_factory=dict)
    stopped_at: float = 0.0
    restarted_at: float = 0.0
    #: edge -> its /healthz during the outage, and its index page and rooms at the end.
    health_down: dict[int, dict] = field(default_factory=dict)
    index: dict[int, str] = field(default_factory=dict)
    rooms_json: dict[int, list[dict]] = field(default_factory=dict)
    room_logs: dict[str, str] = field(default_factory=dict)
    exit_codes: dict[str, int] = field(default_factory=dict)


def speech_file(clips, names: tuple[str, ...], path: Path) -> Path:
    parts = []
    for name in names:
        parts += [decode_file(clips[name].path), silence(1.5)]
    return write_wav(path, np.concatenate(parts))


async def health_once(port: int, predicate) -> dict:
    """An edge's ``/healthz`` once ``predicate`` holds of it (looked at every 0.2 s)."""
    async with asyncio.timeout(WAIT_S):
        while True:
            _, _, body = await http_get(port, "/healthz")
            health = json.loads(body)
            if predicate(health):
                return health
            await asyncio.sleep(0.2)


class Venue:
    """The venue's parts, started and watched in the order of the story: every part up,
    captions over the bus, the broker down and up again, the inputs' end."""

    def __init__(self, clips, tmp: Path) -> None:
        self.tmp = tmp
        self.run = VenueRun()
        self.server = NatsServer(tmp / "nats-store")
        url = self.server.url
        self.archive = Child("archive", "archive", "--bus", url, "--sessions",
                             str(tmp / "archive"), "--poll-s", "0.2", "-vv")
        self.edges = [Child(f"edge {n}", "serve", "--bus", url, "--host", "127.0.0.1",
                            "--port", "0") for n in (1, 2)]
        self.rooms = {room: Child(
            room, "run", "--input", str(speech_file(clips, names, tmp / f"{room}.wav")),
            "--bus", url, "--room", room, "--title", TITLES[room], "--speed", "1",
            "--sessions", str(tmp / "sessions" / room), "--host", "127.0.0.1",
            "--port", "0", "--set", "asr.threads=1", "--set", "translation.engine=none")
            for room, names in SPEECH.items()}
        self.children = [self.archive, *self.edges, *self.rooms.values()]
        self.ports: list[int] = []
        self.viewers: dict[tuple[int, str], StayingViewer] = {}
        self.local: dict[str, FeedViewer] = {}

    async def start(self) -> None:
        """Every part up; a viewer of each room on its own server and on each edge."""
        self.server.start()
        for child in self.children:
            await child.start()
        for edge in self.edges:
            found = await edge.wait_for(r"index +http://127\.0\.0\.1:(\d+)/")
            self.ports.append(int(found.group(1)))
        for room, child in self.rooms.items():
            found = await child.wait_for(r"phone +http://127\.0\.0\.1:(\d+)/")
            self.local[room] = FeedViewer(room, path="/ws")
            await self.local[room].connect(int(found.group(1)))
        for port in self.ports:
            for room in self.rooms:  # each retries until its edge has found the room
                self.viewers[port, room] = StayingViewer(room, port)
                await self.viewers[port, room].start()
        for viewer in self.viewers.values():  # captions reach every viewer over the bus
            await viewer.wait_seq(1)

    async def outage(self) -> None:
        """The broker stopped, for 10 s at least and until each room's own viewer has
        had a caption committed since; then started again on its port and store."""
        run = self.run
        run.stopped_at = time.time()
        self.server.stop()
        for room, child in self.rooms.items():
            await child.wait_for(f"room {room} cannot publish")
        for port in self.ports:  # the edges serve on, and say the bus is down
            run.health_down[port] = await health_once(
                port, lambda health: not health["bus"]["connected"])
        async with asyncio.timeout(WAIT_S):
            for viewer in self.local.values():
                while not any(t > run.stopped_at for t, _ in local_captions(viewer)):
                    viewer.changed.clear()
                    await viewer.changed.wait()
        await asyncio.sleep(max(0.0, run.stopped_at + OUTAGE_S - time.time()))
        run.restarted_at = time.time()
        self.server.start()

    async def finish(self) -> VenueRun:
        """Once each room's input has ended and every edge and the archive have its last
        caption: what each part holds; then every part stopped as systemd stops it."""
        run = self.run
        for room, child in self.rooms.items():
            await child.wait_for("the input has ended")
            run.journals[room] = journal_lines(self.tmp / "sessions" / room)
            last = committed(run.journals[room])[-1][0]
            for port in self.ports:
                await self.viewers[port, room].wait_seq(last)
            await self.archive.wait_for(rf"room {room}: archived up to caption {last}\b")
            for port in self.ports:
                late = FeedViewer(room)
                await late.connect(port)
                await late.wait_seq(last)
                run.late[port, room] = late.captions
                await late.close()
        for port in self.ports:
            _, _, page = await http_get(port, "/")
            run.index[port] = page.decode()
            _, _, body = await http_get(port, "/rooms.json")
            run.rooms_json[port] = json.loads(body)["rooms"]
        for key, viewer in self.viewers.items():
            run.viewers[key], run.drops[key] = viewer.feed.captions, viewer.drops
        run.local = {room: local_captions(viewer) for room, viewer in self.local.items()}
        await self.close_viewers()
        for child in self.children:
            run.exit_codes[child.name] = await child.stop()  # SIGTERM
        run.room_logs = {room: child.text for room, child in self.rooms.items()}
        run.archived = {room: journal_lines(self.tmp / "archive" / room)
                        for room in self.rooms}
        return run

    async def close_viewers(self) -> None:
        for viewer in [*self.viewers.values(), *self.local.values()]:
            with contextlib.suppress(Exception):
                await viewer.close()

    async def kill(self) -> None:
        """What is left of it, ended (after a failure)."""
        await self.close_viewers()
        for child in self.children:
            await child.kill()
        self.server.stop()


def local_captions(viewer: FeedViewer) -> list[tuple[float, dict]]:
    """The committed captions a viewer got, each with when it came."""
    return [(t, m) for t, m in zip(viewer.received_at, viewer.messages, strict=True)
            if m["type"] == "caption" and m["final"]]


async def play_venue(clips, tmp: Path) -> VenueRun:
    venue = Venue(clips, tmp)
    try:
        await venue.start()
        await venue.outage()
        return await venue.finish()
    finally:
        await venue.kill()


@pytest.fixture(scope="module")
def venue(clips, model_dir, tmp_path_factory) -> VenueRun:
    """One run of the whole venue, shared by this module's tests."""
    broker.require_nats_server()
    return asyncio.run(play_venue(clips, tmp_path_factory.mktemp("venue")))


def captions_of(journal: list[dict]) -> list[tuple[int, str, str, str]]:
    """A room's committed captions, checked to be numbered 1, 2, 3... as a fresh session's."""
    want = committed(journal)
    assert len(want) >= 3 and [c[0] for c in want] == list(range(1, len(want) + 1))
    return want


def test_viewers_on_each_edge_receive_both_rooms_captions_equal_to_each_room_s_journal(
        venue):
    assert venue.exit_codes == dict.fromkeys(venue.exit_codes, 0), venue.room_logs
    assert len({port for port, _ in venue.viewers}) == 2
    for (port, room), got in venue.viewers.items():  # connected from the start
        assert committed(got) == captions_of(venue.journals[room]), (port, room)
    for room, journal in venue.journals.items():
        assert committed(venue.archived[room]) == captions_of(journal), room


def test_the_venue_index_names_each_room_by_the_title_it_was_run_with(venue):
    for port, page in venue.index.items():
        assert "Hall A · Water &amp; climate</a></h2>" in page, port
        assert "Зал Б · Финансы</a></h2>" in page, port
        assert {r["room"]: r["title"] for r in venue.rooms_json[port]} == TITLES


def test_while_the_broker_is_down_both_rooms_caption_on_and_their_own_views_stay_live(
        venue):
    stopped, restarted = venue.stopped_at, venue.restarted_at
    assert restarted - stopped >= OUTAGE_S
    for room, journal in venue.journals.items():
        emitted = [m["emitted_at"] for m in journal
                   if m.get("type") == "caption" and m.get("final")]
        # Captions were committed before, during and after the outage.
        assert min(emitted) < stopped < restarted < max(emitted), room
        assert any(stopped < t < restarted for t in emitted), room
        # The room's own server's viewer got captions while the broker was down, and
        # in the end every caption of the journal, once, in order.
        assert any(stopped < t < restarted for t, _ in venue.local[room]), room
        got = [m for _, m in venue.local[room]]
        assert committed(got) == captions_of(journal), room
    for port, health in venue.health_down.items():  # the edges serve on meanwhile
        assert health["status"] == "ok" and health["bus"]["connected"] is False, port
        assert sorted(health["rooms"]) == ["hall-a", "hall-b"], port


def test_after_the_broker_is_back_every_edge_and_the_archive_hold_every_caption_once(
        venue):
    for room, journal in venue.journals.items():
        want = captions_of(journal)
        # Each room went back on the bus and republished what it missed from its journal.
        assert venue.room_logs[room].count(f"room {room} published live") >= 2, room
        for port in sorted({port for port, _ in venue.late}):
            # What each edge holds: a viewer that comes after it all is sent every
            # caption once, in order; so was the viewer there all along.
            assert committed(venue.late[port, room]) == want, (port, room)
            assert committed(venue.viewers[port, room]) == want, (port, room, venue.drops)
        assert committed(venue.archived[room]) == want, room
