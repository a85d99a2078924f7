"""The caption bus over a real nats-server: rooms publish, edges read, the broker fails.

Every wait is on an event (a caption received, a state reported), bounded by a generous
timeout that only a broken build reaches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import nats.errors
import pytest

from bench.nats_server import NatsServer
from captioner.bus.codec import encode_published
from captioner.bus.connection import BusError, BusLink, BusOptions
from captioner.bus.edge import JetStreamBus
from captioner.bus.jetstream import list_rooms
from captioner.bus.local import LocalBus
from captioner.bus.messages import Command, InputFigures, Published, RoomFigures
from captioner.bus.names import events_subject, stream_name
from captioner.bus.publisher import PublisherState, RoomPublisher
from captioner.events import Caption, Status, Word
from captioner.record.journal import Journal, is_journaled
from captioner.record.replay import journal_replay
from tests import nats_server as broker
from tests.nats_server import make_certificates

pytestmark = pytest.mark.integration

# The broker fixtures (a running server; servers to build and start).
nats_server = broker.nats_server
nats_factory = broker.nats_factory

WAIT_S = 60.0
T0_NS = 1_746_075_600_000_000_000


def caption(seq: int, text: str | None = None) -> Caption:
    return Caption(id=f"floor-{seq}", final=True, lang="en", text=text or f"caption {seq}",
                   start_s=seq * 2.0, end_s=seq * 2.0 + 1.5, emitted_ns=T0_NS + seq * 10**9,
                   seq=seq, words=(Word(f"caption{seq}", seq * 2.0, seq * 2.0 + 1.5, 0.9),))


def partial(n: int) -> Caption:
    return Caption(id=f"floor-{n}", final=False, lang="en", text=f"capt {n}",
                   start_s=n * 2.0, end_s=n * 2.0 + 1.0, emitted_ns=T0_NS + n * 10**9 - 5,
                   revision=1)


def status(n: int, state: str = "input_lost") -> Status:
    return Status(state=state, emitted_ns=T0_NS + n * 10**9 + 7, input_id="floor",
                  detail={"n": n})


async def until(predicate: Callable[[], bool], changed: asyncio.Event) -> None:
    """Waits until ``predicate()`` holds, looking again each time ``changed`` is set."""
    async with asyncio.timeout(WAIT_S):
        while not predicate():
            changed.clear()
            await changed.wait()


class Room:
    """A room without audio: a local bus, a real journal and a publisher."""

    def __init__(self, link: BusLink, journal: Path, room: str = "room-a",
                 resume: bool = False) -> None:
        self.bus = LocalBus(room)
        self.journal = (Journal.open_existing(journal, fsync_interval_s=3600) if resume
                        else Journal(journal, fsync_interval_s=3600))
        self.states: list[PublisherState] = []
        self.changed = asyncio.Event()
        self.publisher = RoomPublisher(link, self.bus, replay=journal_replay(lambda: [journal]),
                                       on_state=self._on_state, retry_s=0.1,
                                       conflict_retry_s=0.2)

    def _on_state(self, state: PublisherState) -> None:
        self.states.append(state)
        self.changed.set()

    def say(self, *events: Caption | Status) -> None:
        """As the room does: journal first, then the bus; never waits."""
        for event in events:
            if is_journaled(event):
                self.journal.append(event)
            self.bus.publish(event)

    def hold(self, *captions: Caption) -> None:
        """As the room does while its screens are paused: journaled, not published."""
        for event in captions:
            self.journal.append(event)

    async def wait_state(self, state: str, kind: str | None = None) -> PublisherState:
        def seen() -> bool:
            now = self.publisher.state
            return now.state == state and (kind is None or (
                now.error is not None and now.error.kind == kind))

        await until(seen, self.changed)
        return self.publisher.state

    async def close(self) -> None:
        await self.publisher.close()
        self.journal.close()


class Viewer:
    """What an edge's subscriber received."""

    def __init__(self) -> None:
        self.got: list[Published] = []
        self.changed = asyncio.Event()

    def __call__(self, published: Published) -> None:
        self.got.append(published)
        self.changed.set()

    @property
    def seqs(self) -> list[int]:
        return [p.seq for p in self.got if p.seq is not None]

    async def wait_seq(self, seq: int) -> None:
        await until(lambda: bool(self.seqs) and self.seqs[-1] >= seq, self.changed)


def link(server: NatsServer, **kwargs) -> BusLink:
    return BusLink(BusOptions(server.url, **kwargs), retry_s=0.05, max_retry_s=0.5)


@pytest.fixture
async def links():
    made: list[BusLink] = []

    def make(server: NatsServer, **kwargs) -> BusLink:
        made.append(link(server, **kwargs))
        return made[-1]

    yield make
    for each in made:
        await each.close()


async def edge(made: BusLink, room: str = "room-a") -> JetStreamBus:
    await made.open()
    return JetStreamBus(made, room, retry_s=0.05)


async def test_events_go_from_the_room_to_an_edge_unchanged(nats_server, links, tmp_path):
    room = Room(links(nats_server), tmp_path / "journal.jsonl")
    await room.publisher.start()
    bus = await edge(links(nats_server))
    viewer = Viewer()
    subscription = bus.subscribe(viewer, since_seq=0)
    await bus.wait_attached(subscription)
    await room.wait_state("connected")
    said = [partial(1), caption(1), status(1), partial(2), caption(2)]
    room.say(*said)
    await viewer.wait_seq(2)
    assert viewer.got == [Published("room-a", e) for e in said]  # lossless, in order
    assert room.publisher.state.state == "connected"
    ack = await bus.command(Command("pause", id=7))
    assert not ack.ok and ack.id == 7 and "serving edge" in ack.error
    with pytest.raises(RuntimeError):
        bus.publish(caption(3))
    await bus.close()
    await room.close()


async def test_catch_up_gives_exactly_the_captions_after_since(nats_server, links, tmp_path):
    room = Room(links(nats_server), tmp_path / "journal.jsonl")
    await room.publisher.start()
    for n in range(1, 21):
        room.say(partial(n), caption(n), status(n))
    await room.publisher.wait_acked(20)

    bus = await edge(links(nats_server))
    late = Viewer()
    subscription = bus.subscribe(late, since_seq=7)  # by bisection: this edge read nothing
    await late.wait_seq(20)
    assert late.seqs == list(range(8, 21))
    assert all(p.seq is not None for p in late.got)  # no stale partials or statuses
    await bus.wait_attached(subscription)
    room.say(partial(21), caption(21), status(21))
    await until(lambda: len(late.got) == 13 + 3, late.changed)
    assert [p.event for p in late.got[-3:]] == [partial(21), caption(21), status(21)]

    again = Viewer()  # from the index this edge now holds
    bus.subscribe(again, since_seq=15)
    ahead = Viewer()  # a viewer that saw more than the bus has: nothing until new ones
    ahead_sub = bus.subscribe(ahead, since_seq=25)
    await again.wait_seq(21)
    assert again.seqs == list(range(16, 22))
    await bus.wait_attached(ahead_sub)
    room.say(*(caption(n) for n in range(22, 27)))
    await ahead.wait_seq(26)
    assert ahead.seqs == [26]
    await bus.close()
    await room.close()


async def test_a_republished_caption_is_stored_and_delivered_once(nats_server, links, tmp_path):
    journal = tmp_path / "journal.jsonl"
    room = Room(links(nats_server), journal)
    await room.publisher.start()
    room.say(*(caption(n) for n in range(1, 11)))
    await room.publisher.wait_acked(10)
    await room.close()

    # The same messages sent again, as a room whose acknowledgements were lost would.
    sender = links(nats_server)
    await sender.open()
    session = await sender.session()
    for n in range(1, 11):
        published = Published("room-a", caption(n))
        ack = await session.js.publish(events_subject("room-a", "caption"),
                                       encode_published(published),
                                       headers={"Nats-Msg-Id": published.message_id})
        assert ack.duplicate
    # The room resumed on its journal: it finds the bus up to date and sends nothing old.
    resumed = Room(links(nats_server), journal, resume=True)
    await resumed.publisher.start()
    await resumed.wait_state("connected")
    resumed.say(caption(11))
    await resumed.publisher.wait_acked(11)
    info = await session.js.stream_info(stream_name("room-a"))
    assert info.state.messages == 11

    bus = await edge(links(nats_server))
    viewer = Viewer()
    bus.subscribe(viewer, since_seq=0)
    await viewer.wait_seq(11)
    assert viewer.seqs == list(range(1, 12))
    await bus.close()
    await resumed.close()


async def test_broker_restart_loses_and_repeats_nothing(nats_server, links, tmp_path):
    room = Room(links(nats_server), tmp_path / "journal.jsonl")
    await room.publisher.start()
    bus = await edge(links(nats_server))
    viewer = Viewer()
    bus.subscribe(viewer, since_seq=0)
    await room.wait_state("connected")
    room.say(*(caption(n) for n in range(1, 11)))
    await viewer.wait_seq(10)

    nats_server.stop()
    down = await room.wait_state("down")
    assert down.acked_seq == 10 and down.error is not None
    room.say(*(caption(n) for n in range(11, 16)))  # the room goes on without its bus
    # ...and tries again and again while the broker stays away.
    await room.wait_state("down", kind="refused")
    room.say(*(caption(n) for n in range(16, 21)))
    assert room.publisher.acked_seq == 10
    nats_server.start()
    await room.publisher.wait_acked(20)
    room.say(*(caption(n) for n in range(21, 31)))
    await viewer.wait_seq(30)

    assert viewer.seqs == list(range(1, 31))  # every caption once, in order
    # 11-20 came from the journal (which does not keep the timed words), the rest live.
    assert all(p.event.words == () for p in viewer.got if 11 <= p.seq <= 20)
    assert all(p.event.words for p in viewer.got if p.seq <= 10 or p.seq > 20)
    states = [s.state for s in room.states]
    assert "down" in states and "catching_up" in states[states.index("down"):]
    await bus.close()
    await room.close()


async def test_a_room_started_while_the_broker_is_down_joins_later(nats_factory, links,
                                                                   tmp_path):
    server = nats_factory()
    room = Room(links(server), tmp_path / "journal.jsonl")
    await room.publisher.start()
    down = await room.wait_state("down", kind="refused")
    assert server.url in down.reason
    room.say(*(caption(n) for n in range(1, 6)))
    server.start()
    await room.publisher.wait_acked(5)
    bus = await edge(links(server))
    viewer = Viewer()
    bus.subscribe(viewer, since_seq=0)
    await viewer.wait_seq(5)
    room.say(*(caption(n) for n in range(6, 9)))
    await viewer.wait_seq(8)
    assert viewer.seqs == list(range(1, 9))
    await bus.close()
    await room.close()


async def test_another_run_of_the_room_is_not_published_over(nats_server, links, tmp_path):
    first = Room(links(nats_server), tmp_path / "first.jsonl")
    await first.publisher.start()
    first.say(*(caption(n) for n in range(1, 6)))
    await first.publisher.wait_acked(5)
    await first.close()

    fresh = Room(links(nats_server), tmp_path / "fresh.jsonl")  # a new run: seq from 1
    await fresh.publisher.start()
    fresh.say(caption(1, "a different first caption"))
    state = await fresh.wait_state("down", kind="conflict")
    assert "room-a" in state.reason and "another run" in state.reason
    assert "nats stream rm captioner-room-room-a" in state.error.hint
    await fresh.close()

    bus = await edge(links(nats_server))
    viewer = Viewer()
    bus.subscribe(viewer, since_seq=0)
    await viewer.wait_seq(5)
    assert [p.event.text for p in viewer.got] == [f"caption {n}" for n in range(1, 6)]
    await bus.close()


async def test_rooms_are_listed_and_figures_reach_the_edge(nats_server, links, tmp_path):
    rooms = [Room(links(nats_server), tmp_path / f"{name}.jsonl", room=name)
             for name in ("pavilion-b", "pavilion-a")]
    for n, room in enumerate(rooms, 1):
        await room.publisher.start()
        room.say(*(caption(k) for k in range(1, n + 2)))
        await room.publisher.wait_acked(n + 1)
    made = links(nats_server)
    bus = await edge(made, "pavilion-a")
    listed = await list_rooms(made)
    assert [(r.room, r.last_caption_seq) for r in listed] == [("pavilion-a", 3),
                                                               ("pavilion-b", 2)]
    assert listed[0].stream == "captioner-room-pavilion-a" and listed[0].messages == 3

    got: list[RoomFigures] = []
    changed = asyncio.Event()
    subscription = bus.subscribe_figures(lambda f: (got.append(f), changed.set()))
    await bus.wait_attached(subscription)
    figures = RoomFigures(at_ns=T0_NS, inputs=(InputFigures("floor", passes=4),), committed=3)
    rooms[1].bus.publish_figures(figures)
    await until(lambda: bool(got), changed)
    assert got == [figures] and bus.figures == figures
    await bus.close()
    for room in rooms:
        await room.close()


async def test_bad_credentials_are_one_line_without_the_password(nats_factory, links,
                                                                 tmp_path):
    server = nats_factory(config='authorization { user: alice, password: "s3cret-pass" }\n')
    server.start()
    with pytest.raises(BusError) as err:
        await links(server, user="alice", password="wrong-pass").open()
    assert err.value.kind == "auth"
    message = f"{err.value.message} {err.value.hint}"
    assert server.url in message and "\n" not in message and "wrong-pass" not in message

    in_url = BusOptions(f"nats://alice:wrong-pass@127.0.0.1:{server.port}")
    with pytest.raises(BusError) as err:
        await BusLink(in_url).open()
    assert "alice:***@127.0.0.1" in err.value.message and "wrong-pass" not in err.value.message

    # The room goes on and says why it is not on the bus.
    room = Room(links(server, user="alice", password="wrong-pass"), tmp_path / "j.jsonl")
    await room.publisher.start()
    state = await room.wait_state("down", kind="auth")
    assert "wrong-pass" not in state.reason
    await room.close()
    good = links(server, user="alice", password="s3cret-pass")
    await good.open()
    assert good.state.connected


async def test_a_server_without_jetstream_or_nothing_listening_is_one_line(nats_factory):
    plain = nats_factory(jetstream=False)
    plain.start()
    with pytest.raises(BusError) as err:
        await BusLink(BusOptions(plain.url)).open()
    assert err.value.kind == "jetstream" and "-js" in err.value.hint

    nothing = nats_factory()  # never started
    with pytest.raises(BusError) as err:
        await BusLink(BusOptions(nothing.url, timeout_s=2)).open()
    assert err.value.kind == "refused" and nothing.url in err.value.message


async def test_tls_with_the_venue_ca_and_the_errors_without_it(nats_factory, links,
                                                                tmp_path):
    ca, cert, key = make_certificates(tmp_path / "certs")
    secure = nats_factory("secure-store", tls=(cert, key))
    secure.start()
    tls_url = f"tls://127.0.0.1:{secure.port}"
    good = BusLink(BusOptions(tls_url, ca_file=str(ca)))
    await good.open()
    assert await list_rooms(good) == []
    await good.close()

    with pytest.raises(BusError) as err:  # the system's CAs do not know the venue's
        await BusLink(BusOptions(secure.url)).open()
    assert err.value.kind == "tls" and "ca_file" in err.value.hint
    with pytest.raises(BusError) as err:
        await BusLink(BusOptions(tls_url, ca_file=str(tmp_path / "missing.pem"))).open()
    assert err.value.kind == "tls" and "missing.pem" in err.value.message

    plain = nats_factory("plain-store")
    plain.start()
    with pytest.raises(BusError) as err:  # never our password in the clear
        await BusLink(BusOptions(f"tls://127.0.0.1:{plain.port}", user="u",
                                 password="pw-123")).open()
    assert err.value.kind == "tls" and "does not offer TLS" in err.value.message


async def room_and_viewer(nats_server, links, tmp_path
                          ) -> tuple[Room, BusLink, JetStreamBus, Viewer]:
    """A room publishing on the bus, and a viewer of it on an edge's reader (its own
    link), attached from the stream's start."""
    room = Room(links(nats_server), tmp_path / "journal.jsonl")
    await room.publisher.start()
    await room.wait_state("connected")
    reader = links(nats_server)
    bus = await edge(reader)
    viewer = Viewer()
    await bus.wait_attached(bus.subscribe(viewer, since_seq=0))
    return room, reader, bus, viewer


@pytest.mark.parametrize("crash", [False, True], ids=["stopped", "killed"])
async def test_an_edge_rides_out_a_broker_crash(nats_server, links, tmp_path, crash):
    room, _, bus, viewer = await room_and_viewer(nats_server, links, tmp_path)
    for n in range(1, 6):
        room.say(partial(n), caption(n))
    await viewer.wait_seq(5)
    nats_server.kill() if crash else nats_server.stop()
    await room.wait_state("down")
    for n in range(6, 11):
        room.say(partial(n), caption(n), status(n, "levels"))
    nats_server.start()
    await room.publisher.wait_acked(10)
    room.say(caption(11))
    await viewer.wait_seq(11)
    assert viewer.seqs == list(range(1, 12))
    # Nothing stale after the gap: no partials or live statuses from the outage.
    assert [p.event for p in viewer.got if p.seq is None] == [partial(n) for n in range(1, 6)]
    await bus.close()
    await room.close()


async def test_a_connection_nats_py_closes_without_a_word_is_opened_again(nats_server,
                                                                          links, tmp_path):
    # nats-py 2.16 may close a client without calling its disconnected or closed
    # callbacks (its close raises first when the socket broke with data still to send,
    # nats.py issue 806): seen with a broker stopped mid-session. Here the close skips
    # them on purpose, as it then does.
    room, reader, bus, viewer = await room_and_viewer(nats_server, links, tmp_path)
    room.say(caption(1))
    await viewer.wait_seq(1)
    first = reader.current
    assert first is not None
    await first.nc._close(first.nc.CLOSED, do_cbs=False)
    async with asyncio.timeout(WAIT_S):
        await first.lost.wait()  # what every user of the link waits on
    room.say(caption(2), caption(3))
    await viewer.wait_seq(3)
    assert viewer.seqs == [1, 2, 3]
    again = reader.current
    assert again is not None and again.number == first.number + 1
    await bus.close()
    await room.close()


async def test_statuses_said_while_an_edge_was_away_reach_it_when_it_is_back(
        nats_server, links, tmp_path):
    room, reader, bus, viewer = await room_and_viewer(nats_server, links, tmp_path)
    room.say(caption(1))
    await viewer.wait_seq(1)
    # The edge comes back only once the room has republished the outage from its
    # journal: what it missed is then already in the stream when it attaches again.
    gate = asyncio.Event()
    connect = reader._connect

    async def come_back_later():
        await gate.wait()
        return await connect()

    reader._connect = come_back_later  # type: ignore[method-assign]
    nats_server.stop()
    await room.wait_state("down")
    room.say(status(2, "input_lost"), caption(2), status(3, "stopped"))  # journaled
    nats_server.start()
    await room.publisher.wait_acked(2)
    await room.wait_state("connected")
    gate.set()
    await until(lambda: any(p.event.state == "stopped" for p in viewer.got
                            if isinstance(p.event, Status)), viewer.changed)
    assert [(p.seq, getattr(p.event, "state", None)) for p in viewer.got] == [
        (1, None), (None, "input_lost"), (2, None), (None, "stopped")]
    await bus.close()
    await room.close()


def documented_accounts() -> str:
    """The accounts.conf block of docs/deploy.md, as a venue would copy it."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text("utf-8")
    after = text.split("<!-- accounts.conf: tested -->", 1)[1]
    return after.split("```conf\n", 1)[1].split("```", 1)[0]


async def test_the_documented_accounts_keep_rooms_apart_and_edges_read_only(
        nats_factory, links, tmp_path):
    server = nats_factory(config=documented_accounts(), env={
        "PAVILION_A_PASSWORD": "pw-a", "PAVILION_B_PASSWORD": "pw-b",
        "EDGE_PASSWORD": "pw-edge", "ARCHIVE_PASSWORD": "pw-archive"})
    server.start()
    room = Room(links(server, user="pavilion-a", password="pw-a"), tmp_path / "a.jsonl",
                room="pavilion-a")
    await room.publisher.start()
    await room.wait_state("connected")
    room.say(*(caption(n) for n in range(1, 4)))
    await room.publisher.wait_acked(3)

    reader = links(server, user="edge", password="pw-edge", timeout_s=1)
    bus = await edge(reader, "pavilion-a")
    viewer = Viewer()
    bus.subscribe(viewer, since_seq=1)  # the bisection reads single messages
    await viewer.wait_seq(3)
    assert viewer.seqs == [2, 3]
    assert [r.room for r in await list_rooms(reader)] == ["pavilion-a"]
    got: list[RoomFigures] = []
    changed = asyncio.Event()
    await bus.wait_attached(bus.subscribe_figures(lambda f: (got.append(f), changed.set())))
    room.bus.publish_figures(RoomFigures(at_ns=T0_NS))
    await until(lambda: bool(got), changed)

    session = await reader.session()
    with pytest.raises(nats.errors.TimeoutError):  # an edge publishes nothing
        await session.js.publish(events_subject("pavilion-a", "caption"), b"{}", timeout=1)
    with pytest.raises(nats.errors.TimeoutError):  # nor removes a room
        await session.js.delete_stream(stream_name("pavilion-a"))

    # pavilion-a's credentials cannot make or write pavilion-b's stream.
    intruder = Room(links(server, user="pavilion-a", password="pw-a", timeout_s=1),
                    tmp_path / "b.jsonl", room="pavilion-b")
    await intruder.publisher.start()
    state = await intruder.wait_state("down", kind="timeout")
    assert "permissions" in state.error.hint
    await intruder.close()
    listed = await list_rooms(reader)
    assert [(r.room, r.messages) for r in listed] == [("pavilion-a", 3)]
    await bus.close()
    await room.close()


async def test_captions_held_by_a_paused_screen_stay_off_the_bus(nats_server, links, tmp_path):
    room = Room(links(nats_server), tmp_path / "journal.jsonl")
    room.say(caption(1))  # before the publisher: the room's bus hands it over at start
    await room.publisher.start()
    await room.wait_state("connected")
    room.say(caption(2))
    room.hold(caption(3))  # paused while the bus is up: a gap the publisher leaves be
    room.say(caption(4))
    await room.publisher.wait_acked(4)
    nats_server.stop()
    await room.wait_state("down")
    room.say(caption(5))
    room.hold(caption(6), caption(7))  # paused during the outage: not in the catch-up
    room.say(caption(8))
    nats_server.start()
    await room.publisher.wait_acked(8)
    bus = await edge(links(nats_server))
    viewer = Viewer()
    bus.subscribe(viewer, since_seq=0)
    await viewer.wait_seq(8)
    assert viewer.seqs == [1, 2, 4, 5, 8]
    await bus.close()
    await room.close()


class Said(logging.Handler):
    """What the edge logs, by level, with an event set at each line."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[int, str]] = []
        self.changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, record.getMessage()))
        self.changed.set()

    def at(self, level: int, room: str) -> list[str]:
        return [text for lvl, text in self.lines if lvl == level and f" {room}:" in text]


async def test_an_edge_waiting_for_a_room_says_why_once_and_when_it_reads(
        nats_server, links, tmp_path):
    logger, said = logging.getLogger("captioner.bus.edge"), Said()
    logger.addHandler(said)
    level = logger.level
    logger.setLevel(logging.DEBUG)  # setLevel, not .level: it clears the logger's cache
    try:
        bus = await edge(links(nats_server), "room-late")  # a room no test made
        viewer = Viewer()
        subscription = bus.subscribe(viewer, since_seq=0)
        await until(lambda: len(said.at(logging.DEBUG, "room-late")) >= 3, said.changed)  # quietly
        assert said.at(logging.INFO, "room-late") == [
            "bus: room room-late: no stream on the bus yet (the room has not published); "
            "trying again every 0.05 s"]
        room = Room(links(nats_server), tmp_path / "journal.jsonl", room="room-late")
        await room.publisher.start()
        await bus.wait_attached(subscription)
        room.say(caption(1))
        await viewer.wait_seq(1)
        assert said.at(logging.INFO, "room-late")[1:] == [
            "bus: room room-late: reading its stream now"]
    finally:
        logger.removeHandler(said)
        logger.setLevel(level)
