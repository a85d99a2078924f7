"""Serving edges over a real nats-server: rooms publish, edges serve real websocket
viewers, an edge is killed and its viewers resume on another with every caption once."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time

import pytest

from captioner.events import Status
from tests import nats_server as broker
from tests.bus.test_jetstream import documented_accounts
from tests.conftest import REPO, run_cli
from tests.edgetools import WAIT_S, FeedViewer, ScriptedRoom, edge, until
from tests.httptools import http_get

pytestmark = pytest.mark.integration

nats_server = broker.nats_server
nats_factory = broker.nats_factory


@pytest.fixture
async def rooms(nats_server, tmp_path):
    """Two rooms publishing to the bus, each with its first captions on it."""
    made = [ScriptedRoom(nats_server.url, tmp_path, name) for name in ("room-a", "room-b")]
    for room in made:
        await room.start()
        room.speak(3)
        await room.wait_acked()
    yield made
    for room in made:
        await room.close()


@pytest.fixture
async def edges():
    made = []

    async def make(url: str, **kwargs):
        made.append(await edge(url, **kwargs))
        return made[-1]

    yield make
    for each in made:
        await each.close()


def texts(messages: list[dict]) -> list[tuple[int, str, str]]:
    return [(m["seq"], m["lang"], m["text"]) for m in messages]


def said(room: ScriptedRoom) -> list[tuple[int, str, str]]:
    return [(c.seq, c.lang, c.text) for c in room.said]


async def test_viewers_on_two_edges_get_both_rooms_in_order(nats_server, rooms, edges):
    first, second = await edges(nats_server.url), await edges(nats_server.url)
    viewers = {}
    for edge_ in (first, second):
        for room in rooms:
            viewer = FeedViewer(room.room)
            await viewer.connect(edge_.port)
            viewers[edge_.port, room.room] = viewer
    for n in range(12):  # the two rooms speak at once, with a status now and then
        for room in rooms:
            room.speak(1)
            if n % 5 == 0:
                room.say(Status("translation_unavailable", time.time_ns(),
                                detail={"lang": "en"}))
    for room in rooms:
        for edge_ in (first, second):
            await viewers[edge_.port, room.room].wait_seq(room.seq)
    for (_, name), viewer in viewers.items():
        room = next(r for r in rooms if r.room == name)
        assert texts(viewer.captions) == said(room)  # every caption, once, in order
        assert any(m["type"] == "status" for m in viewer.messages)
        assert any(m["type"] == "caption" and not m["final"] for m in viewer.messages)
    # The same session on both edges: a viewer may resume on either.
    for room in rooms:
        assert viewers[first.port, room.room].session == viewers[second.port, room.room].session
    assert viewers[first.port, "room-a"].session != viewers[first.port, "room-b"].session

    late = FeedViewer("room-b")  # a resume from the edge's memory
    late.session, late.last_seq = viewers[second.port, "room-b"].session, 7
    await late.connect(first.port)
    await late.wait_seq(rooms[1].seq)
    assert late.hellos[0]["since"] == 7 and late.seqs == list(range(8, rooms[1].seq + 1))
    for viewer in [*viewers.values(), late]:
        await viewer.close()


async def test_resumes_from_the_stream_join_the_live_fan_out_exactly(nats_server, rooms,
                                                                     edges):
    room = rooms[0]
    served = await edges(nats_server.url, history=4)  # a memory of 4 captions a track
    room.speak(40)
    await room.wait_acked()
    watcher = FeedViewer(room.room)
    await watcher.connect(served.port)
    await watcher.wait_seq(room.seq)
    session = watcher.session

    # Viewers from far behind the memory reconnect while the room goes on speaking.
    resumers = []
    for since in (0, 5, 17, 30):
        viewer = FeedViewer(room.room)
        viewer.session, viewer.last_seq = session, since
        resumers.append(viewer)

    async def speak_on() -> None:
        for _ in range(60):
            room.speak(1)
            await asyncio.sleep(0.005)  # traffic at a pace, not a wait for anything

    speaking = asyncio.create_task(speak_on())
    for viewer in resumers:
        await viewer.connect(served.port)
    await speaking
    for viewer in [watcher, *resumers]:
        await viewer.wait_seq(room.seq)
    for viewer, since in zip(resumers, (0, 5, 17, 30), strict=True):
        assert viewer.seqs == list(range(since + 1, room.seq + 1)), since
        assert texts(viewer.captions) == said(room)[since:]
        assert len(viewer.hellos) == 1 and viewer.hellos[0]["since"] == since
    room_id = room.room
    assert served.venue.rooms[room_id].resumes == set()  # every one joined the fan-out
    _, _, body = await http_get(served.port, "/healthz")
    health = json.loads(body)
    assert health["rooms"][room_id]["viewers"] == 5 and health["resuming"] == 0
    for viewer in [watcher, *resumers]:
        await viewer.close()


async def start_edge_process(url: str) -> tuple[asyncio.subprocess.Process, int, list[str]]:
    """``captioner serve`` as a user runs it; returns once it says where it serves."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "captioner", "serve", "--bus", url, "--host", "127.0.0.1",
        "--port", "0", cwd=REPO, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    assert process.stderr is not None
    async with asyncio.timeout(WAIT_S):
        while True:
            raw = await process.stderr.readline()
            if not raw:
                raise AssertionError("captioner serve ended:\n" + "\n".join(lines))
            lines.append(raw.decode().rstrip())
            found = re.search(r"index +http://127\.0\.0\.1:(\d+)/", lines[-1])
            if found:
                break

    async def drain() -> None:
        async for raw in process.stderr:
            lines.append(raw.decode().rstrip())

    asyncio.get_running_loop().create_task(drain())
    return process, int(found.group(1)), lines


async def test_a_killed_edge_s_viewers_resume_on_another_with_every_caption_once(
        nats_server, rooms, edges):
    process, port, log = await start_edge_process(nats_server.url)
    try:
        survivor = await edges(nats_server.url, history=3)
        viewers = [FeedViewer(room.room) for room in rooms]
        watchers = [FeedViewer(room.room) for room in rooms]
        for viewer, watcher in zip(viewers, watchers, strict=True):
            await viewer.connect(port)
            await watcher.connect(survivor.port)
        for room in rooms:
            room.speak(10)
        for viewer, room in zip(viewers, rooms, strict=True):
            await viewer.wait_seq(room.seq)
        sessions = [viewer.session for viewer in viewers]

        process.kill()  # kill -9, mid-session
        await process.wait()
        for viewer in viewers:
            await viewer.wait_closed()
        for room in rooms:  # the rooms go on: past the survivor's memory of 3
            room.speak(20)
        for watcher, room in zip(watchers, rooms, strict=True):
            await watcher.wait_seq(room.seq)
        for viewer in viewers:
            await viewer.connect(survivor.port)  # with ?since=13&session=...
        for room in rooms:
            room.speak(10)
        for viewer, room in zip(viewers, rooms, strict=True):
            await viewer.wait_seq(room.seq)
            assert texts(viewer.captions) == said(room)  # each exactly once, in order
            assert viewer.hellos[1]["since"] == 13
        assert [viewer.session for viewer in viewers] == sessions
        for viewer in [*viewers, *watchers]:
            await viewer.close()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_the_index_lists_the_rooms_as_they_come(nats_server, tmp_path, rooms, edges):
    changed = asyncio.Event()
    served = await edges(nats_server.url, on_change=changed.set)
    assert sorted(served.venue.rooms) == ["room-a", "room-b"]
    viewers = [FeedViewer(room.room) for room in rooms]
    for viewer in viewers:
        await viewer.connect(served.port)
    rooms[0].say(Status("session_started", time.time_ns(), detail={"title": "Water & climate"}))
    rooms[1].say(Status("stopped", time.time_ns()))
    late = ScriptedRoom(nats_server.url, tmp_path, "room-c")
    await late.start()
    try:
        late.speak(1)
        await until(lambda: "room-c" in served.venue.rooms, changed)
        watcher = FeedViewer("room-c")
        await watcher.connect(served.port)
        await watcher.wait_seq(1)
        late.say(Status("paused", time.time_ns()))
        viewers.append(watcher)
        for viewer in viewers:  # the edge took each status in before it sent it on
            await until(lambda v=viewer: any(m["type"] == "status" for m in v.messages),
                        viewer.changed)

        status, headers, body = await http_get(served.port, "/")
        page = body.decode()
        assert status == 200 and "Content-Security-Policy" in {k.title(): v for k, v in
                                                               headers.items()}
        assert page.count('<article class="room') == 3
        assert "Water &amp; climate" in page and 'href="r/room-b/"' in page
        _, _, body = await http_get(served.port, "/rooms.json")
        listed = {r["room"]: r for r in json.loads(body)["rooms"]}
        assert {r: listed[r]["state"] for r in listed} == {
            "room-a": "live", "room-b": "ended", "room-c": "paused"}
        assert listed["room-a"]["urls"]["ws"] == f"ws://127.0.0.1:{served.port}/r/room-a/ws"

        status, headers, _ = await http_get(served.port, "/r/room-a?lang=en")
        assert status == 301 and headers["location"] == "/r/room-a/?lang=en"
        for path, kind in (("/r/room-a/", "text/html"), ("/r/room-a/screen", "text/html"),
                           ("/r/room-a/overlay", "text/html"), ("/r/room-a/feed.js",
                                                                "text/javascript"),
                           ("/r/room-a/base.css", "text/css"), ("/venue.css", "text/css"),
                           ("/r/room-a/qr.svg", "image/svg+xml")):
            status, headers, _ = await http_get(served.port, path)
            assert (status, headers["content-type"].split(";")[0]) == (200, kind), path
        _, _, body = await http_get(served.port, "/r/room-a/urls.json")
        assert json.loads(body)["phone"] == f"http://127.0.0.1:{served.port}/r/room-a/"
        # Read-only: no console, no control channel, not even the console's files.
        for path in ("/operator", "/control", "/r/room-a/operator", "/r/room-a/control",
                     "/r/room-a/operator.html", "/r/room-a/operator.js", "/screen",
                     "/ws", "/r/nowhere/", "/r/../etc/passwd"):
            status, _, _ = await http_get(served.port, path)
            assert status == 404, path
        for viewer in viewers:
            await viewer.close()
    finally:
        await late.close()


async def test_the_index_names_a_room_by_the_title_in_its_figures(nats_server, rooms,
                                                                  edges):
    served = await edges(nats_server.url)
    room = rooms[0]
    state = served.venue.rooms[room.room].state
    async with asyncio.timeout(WAIT_S):
        while state.title != "Hall A · Зал А":  # a room sends its figures 4 times a second
            room.figures(title="Hall A · Зал А")
            await asyncio.sleep(0.05)
    _, _, body = await http_get(served.port, "/")
    page = body.decode()
    assert "Hall A · Зал А</a></h2>" in page and ">room-b</a></h2>" in page
    _, _, body = await http_get(served.port, "/rooms.json")
    assert [r["title"] for r in json.loads(body)["rooms"]] == ["Hall A · Зал А", "room-b"]


async def test_an_edge_started_after_a_room_stopped_names_it_by_its_title(nats_server,
                                                                         rooms, edges):
    room = rooms[0]
    room.say(Status("stopped", time.time_ns(), detail={"committed": 3,
                                                       "title": "Water & climate"}))
    room.speak(1)  # published after the status, in order: acknowledged, so is the status
    await room.wait_acked()
    served = await edges(nats_server.url)  # no figures ever reach it from this room
    _, _, body = await http_get(served.port, "/rooms.json")
    listed = {r["room"]: r for r in json.loads(body)["rooms"]}
    assert (listed["room-a"]["title"], listed["room-a"]["state"]) == ("Water & climate",
                                                                      "ended")
    assert listed["room-b"]["title"] == "room-b"


async def test_an_edge_serves_with_the_documented_read_only_account(nats_factory, tmp_path):
    server = nats_factory(config=documented_accounts(), env={
        "PAVILION_A_PASSWORD": "pw-a", "PAVILION_B_PASSWORD": "pw-b",
        "EDGE_PASSWORD": "pw-edge", "ARCHIVE_PASSWORD": "pw-archive"})
    server.start()
    room = ScriptedRoom(server.url, tmp_path, "pavilion-a", user="pavilion-a",
                        password="pw-a")
    await room.start()
    try:
        room.speak(5)
        room.say(Status("paused", time.time_ns()))
        await room.wait_acked()
        served = await edge(server.url, history=2,
                            settings=["bus.user=edge", "bus.password=pw-edge"])
        try:
            assert list(served.venue.rooms) == ["pavilion-a"]
            # Its last status, read back at the start: the room is paused.
            assert served.venue.rooms["pavilion-a"].state.paused
            viewer = FeedViewer("pavilion-a")
            viewer.session, viewer.last_seq = room_session_of(served, "pavilion-a"), 1
            await viewer.connect(served.port)  # from the stream: the memory holds 2
            room.speak(2)
            await viewer.wait_seq(room.seq)
            assert viewer.seqs == list(range(2, room.seq + 1))
            assert [m["state"] for m in viewer.messages if m["type"] == "status"] == ["paused"]
            await viewer.close()
        finally:
            await served.close()
    finally:
        await room.close()


def room_session_of(served, room: str) -> str:
    return served.venue.rooms[room].broadcaster.session


def test_serve_says_in_one_line_why_it_cannot_reach_the_bus(nats_factory):
    nothing = nats_factory()  # never started: nothing listens there
    done = run_cli("serve", "--bus", nothing.url, "--port", "0", timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert lines[0] == (f"captioner: error: cannot connect to the bus at {nothing.url}: "
                        "connection refused")
    assert lines[1].startswith("hint: ") and len(lines) == 2

    guarded = nats_factory("guarded", config='authorization { user: alice, password: "pw-1" }\n')
    guarded.start()
    url = f"nats://alice:wrong-pass@127.0.0.1:{guarded.port}"
    done = run_cli("serve", "--bus", url, "--port", "0", timeout=120)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "wrong-pass" not in done.stderr and "alice:***@127.0.0.1" in done.stderr
    assert "refused our credentials" in done.stderr.splitlines()[0]

    done = run_cli("serve", "--bus", "http://127.0.0.1:4222", timeout=120)
    assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 2
    assert "nats:// or tls://" in done.stderr


def test_serve_explains_itself():
    done = run_cli("serve", "--help", timeout=120)
    assert done.returncode == 0
    for words in ("--bus", "/r/ROOM_ID/", "venue index", "read-only", "[bus]"):
        assert words in " ".join(done.stdout.split()), words
