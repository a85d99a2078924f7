"""The operator console over real sockets: authentication, commands, metrics, health."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from captioner.delivery.operator import CLOSE_UNAUTHORIZED, start_operator
from captioner.events import AudioChunk, Status
from captioner.room.pipeline import LivePipeline
from captioner.routing.mt import MachineTranslation
from tests.httptools import http_get
from tests.operator_fakes import (
    FakeEngine,
    FakeRecord,
    caption,
    levels,
    make_room,
    serve_bus,
    start_server,
)

TOKEN = "operator-test-token-0123456789"
TIMEOUT_S = 10.0


class Session:
    """A served room with an operator console, and the record of what it did."""

    def __init__(self, **room) -> None:
        self.record = FakeRecord(offset_s=room.pop("offset_s", 0.0))
        self.room = make_room(record=self.record,
                              holding_message="Back soon · Скоро вернёмся", **room)
        self.pipeline = self.room.pipeline
        self.journal = self.record.journal.events
        self.broadcaster = serve_bus(self.room.bus)
        self.announced: list[tuple[str, str]] = []
        self.server = None
        self.console = None

    async def start(self, **kwargs) -> None:
        self.server = await start_server(self.broadcaster)
        kwargs.setdefault("token", TOKEN)
        self.console = await start_operator(
            self.server, self.broadcaster, self.room.bus,
            announce=lambda name, url: self.announced.append((name, url)),
            holding_message="Back soon · Скоро вернёмся", info={"model": "whisper-base"},
            environ={}, **kwargs)
        self.figures = asyncio.create_task(self.room.publish_figures_periodically())

    async def close(self) -> None:
        self.figures.cancel()
        await self.server.close()

    @property
    def port(self) -> int:
        return self.server.port

    def control_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/control"

    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def session():
    s = Session()
    await s.start()
    try:
        yield s
    finally:
        await s.close()


async def recv_json(ws: ClientConnection) -> dict:
    async with asyncio.timeout(TIMEOUT_S):
        return json.loads(await ws.recv())


async def recv_type(ws: ClientConnection, kind: str) -> dict:
    while True:
        msg = await recv_json(ws)
        if msg["type"] == kind:
            return msg


async def closed_with(ws: ClientConnection) -> tuple[int, str, list]:
    """Reads until the server closes; returns the close code, reason and what came first."""
    got = []
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                got.append(await ws.recv())
    return closed.value.rcvd.code, closed.value.rcvd.reason, got


async def authed(s: Session) -> ClientConnection:
    ws = await connect(s.control_url(), origin=s.origin())
    await ws.send(json.dumps({"type": "auth", "token": TOKEN}))
    welcome = await recv_json(ws)
    assert welcome["type"] == "welcome"
    return ws


async def command(ws: ClientConnection, cmd: str, **args) -> dict:
    await ws.send(json.dumps({"cmd": cmd, "id": cmd, **args}))
    while True:
        msg = await recv_json(ws)
        if msg["type"] in ("ack", "error"):
            assert msg["id"] == cmd
            return msg


# -- authentication


async def test_the_operator_url_carries_a_generated_token_only():
    s = Session()
    await s.start(token=None)
    try:
        (name, url), = s.announced
        assert name == "operator"
        assert url == f"{s.server.urls()['phone']}operator#token={s.console.token}"
        assert len(s.console.token) >= 40
    finally:
        await s.close()
    configured = Session()
    await configured.start()
    try:
        assert configured.announced[0][1].endswith("/operator")  # the operator has it
    finally:
        await configured.close()


async def test_page_is_served_without_secrets_and_never_framed(session):
    status, headers, body = await http_get(session.port, "/operator")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert TOKEN.encode() not in body and b"/operator.js" in body
    status, _, js = await http_get(session.port, "/operator.js")
    assert status == 200 and TOKEN.encode() not in js


async def test_no_token_closes_with_4401_and_changes_nothing(session):
    async with connect(session.control_url()) as ws:
        await ws.send(json.dumps({"cmd": "pause"}))
        code, reason, got = await closed_with(ws)
    assert (code, reason, got) == (CLOSE_UNAUTHORIZED, "unauthorized", [])
    assert not session.pipeline.controls.paused


async def test_wrong_token_closes_with_4401_and_leaks_nothing(session):
    for token in ("wrong", TOKEN[:-1], None, 12):
        async with connect(session.control_url(), origin=session.origin()) as ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            await ws.send(json.dumps({"cmd": "pause"}))
            code, reason, got = await closed_with(ws)
        assert (code, reason, got) == (CLOSE_UNAUTHORIZED, "unauthorized", [])
    assert not session.pipeline.controls.paused


async def test_not_json_first_message_closes_with_4401(session):
    async with connect(session.control_url()) as ws:
        await ws.send("{not json")
        assert (await closed_with(ws))[0] == CLOSE_UNAUTHORIZED


async def test_wrong_bearer_token_is_refused_with_401(session):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(session.control_url(),
                           additional_headers={"Authorization": "Bearer nope"}):
            pass
    response = refused.value.response
    assert response.status_code == 401 and response.body == b"Unauthorized.\n"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_bearer_token_authenticates_a_non_browser_client(session):
    async with connect(session.control_url(),
                       additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        welcome = await recv_json(ws)
        assert welcome["type"] == "welcome" and welcome["inputs"] == ["floor", "booth"]
        assert (await command(ws, "clear"))["type"] == "ack"


async def test_cross_origin_pages_are_refused_even_with_the_token(session):
    for origin in ("http://evil.example", f"http://127.0.0.1:{session.port + 1}"):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(session.control_url(), origin=origin,
                               additional_headers={"Authorization": f"Bearer {TOKEN}"}):
                pass
        assert refused.value.response.status_code == 403
        assert refused.value.response.body == b"Forbidden.\n"


async def test_refusals_are_counted_in_metrics(session):
    async with connect(session.control_url()) as ws:
        await ws.send(json.dumps({"type": "auth", "token": "wrong"}))
        await closed_with(ws)
    _, _, body = await http_get(session.port, "/metrics")
    assert b'captioner_errors_total{kind="control_auth"} 1.0' in body


# -- viewers stay read-only


async def test_viewer_feed_ignores_control_messages(session):
    async with connect(f"ws://127.0.0.1:{session.port}/ws") as viewer:
        assert (await recv_json(viewer))["type"] == "hello"
        await viewer.send(json.dumps({"type": "auth", "token": TOKEN}))
        await viewer.send(json.dumps({"cmd": "pause", "message": "hijacked"}))
        await viewer.send(json.dumps({"cmd": "message", "text": "hijacked", "token": TOKEN}))
        session.pipeline.publish(caption("real", id="r"))
        msg = await recv_json(viewer)
        assert (msg["type"], msg["text"]) == ("caption", "real")
    assert not session.pipeline.controls.paused
    assert all(getattr(e, "state", None) not in ("paused", "message")
               for e in session.journal)


# -- commands


async def test_pause_holds_captions_back_from_viewers_but_not_from_the_journal(session):
    p = session.pipeline
    ws = await authed(session)
    async with ws, connect(f"ws://127.0.0.1:{session.port}/ws") as viewer:
        await recv_json(viewer)  # hello
        p.publish(caption("half", final=False, id="a"))
        assert (await recv_json(viewer))["text"] == "half"

        ack = await command(ws, "pause")
        assert ack == {"type": "ack", "id": "pause", "cmd": "pause", "changed": True}
        msg = await recv_json(viewer)
        assert (msg["state"], msg["message"]) == ("paused", "Back soon · Скоро вернёмся")
        withdrawn = await recv_json(viewer)
        assert (withdrawn["id"], withdrawn["text"]) == ("a", "")

        p.publish(caption("Off the record.", id="b"))
        assert [e.text for e in session.journal if hasattr(e, "text")][-1] == "Off the record."
        state = await recv_type(ws, "state")
        while state["captions"]["held"] == 0:  # states sent before the caption say 0
            state = await recv_type(ws, "state")
        assert state["paused"] and state["captions"]["held"] == 1

        assert (await command(ws, "resume"))["changed"]
        assert (await recv_json(viewer))["state"] == "resumed"
        p.publish(caption("On the record.", id="c"))
        assert (await recv_json(viewer))["text"] == "On the record."
        assert (await command(ws, "resume"))["changed"] is False


async def test_each_command_reaches_the_viewers_and_the_controls(session):
    p = session.pipeline
    ws = await authed(session)
    async with ws, connect(f"ws://127.0.0.1:{session.port}/ws") as viewer:
        await recv_json(viewer)
        await command(ws, "clear")
        assert (await recv_json(viewer))["state"] == "clear"
        await command(ws, "message", text="Please take your seats", duration_s=20)
        msg = await recv_json(viewer)
        assert (msg["state"], msg["text"], msg["duration_s"]) == (
            "message", "Please take your seats", 20.0)
        await command(ws, "language", lang="en")
        assert p.controls.forced_language == "en"
        assert (await recv_json(viewer))["state"] == "language_forced"
        await command(ws, "input", input="booth", enabled=False)
        assert not p.controls.input_enabled("booth")
        state = await recv_type(ws, "state")
        while state["inputs"][1]["enabled"]:
            state = await recv_type(ws, "state")
        assert state["language"] == "en"

        error = await command(ws, "language", lang="de")
        assert error["type"] == "error" and "lang must be" in error["error"]
        await ws.send("{oops")
        assert (await recv_type(ws, "error"))["error"] == "a command must be JSON"
        assert (await command(ws, "clear"))["type"] == "ack"  # still connected


async def test_state_reports_levels_latency_and_recording():
    session = Session(offset_s=100.0)  # a resumed session: stream times continue its clock
    await session.start()
    p = session.pipeline
    t0 = time.time_ns() - 20 * 1_000_000_000
    p.publish(Status("listening", t0))
    p.publish(levels("floor", -18.0, -4.0, overflows=1))
    p.publish(caption("Hello.", end_s=110.0, emitted_ns=t0 + 12_000_000_000))
    ws = await authed(session)
    async with ws:
        state = await recv_type(ws, "state")
    await session.close()
    floor = state["inputs"][0]
    assert (floor["id"], floor["source"], floor["enabled"]) == ("floor", "floor", True)
    assert floor["levels"]["rms_dbfs"] == -18.0 and floor["overflows"] == 1
    assert state["inputs"][1]["levels"] is None  # the booth published none
    assert state["latency"]["committed"]["last_s"] == 2.0
    assert state["recording"] == {"name": "session-0", "path": "/s", "healthy": True,
                                  "error": None}
    assert state["asr"]["model"] == "whisper-base" and state["asr"]["device"] == "cpu"
    assert state["translation"]["status"] == "off"
    assert state["translation"]["dropped"] == 0
    assert state["screens"]["en"]["lines"] == ["Hello."]


async def test_state_shows_the_translation_queue_and_the_sentences_it_dropped():
    class Idle:  # never asked: the stage is not run, so its queue only fills
        name = "idle"

    with ThreadPoolExecutor(max_workers=1) as executor:
        session = Session(translation=lambda audio_for, emit: MachineTranslation(
            {"en": Idle()}, executor, emit, max_queue=2))
        await session.start()
        stage = session.pipeline.translation
        for n in range(5):
            stage.submit(caption(f"Sentence number {n} here.", id=f"u{n}"))
            stage.utterance_ended("en")
        session.room.publish_figures()
        ws = await authed(session)
        async with ws:
            state = await recv_type(ws, "state")
        await session.close()
    translation = state["translation"]
    assert (translation["queue"], translation["dropped"]) == (2, 3)
    assert translation["status"] == "ok" and translation["engines"] == {"en": "idle"}
    drops = [e for e in session.journal if isinstance(e, Status)
             and e.state == "translation_dropped"]
    assert [d.detail for d in drops] == [{"lang": "ru", "dropped": k} for k in (1, 2, 3)]


async def test_new_session_runs_the_factory_then_clears_the_screens(session):
    ws = await authed(session)
    async with ws:
        ack = await command(ws, "new_session", title="Afternoon panel")
        assert ack["session"] == {"name": "session-1", "path": "/x"}
        assert session.record.new_sessions == ["Afternoon panel"]
        states = [e.state for e in session.journal if isinstance(e, Status)]
        assert states[-2:] == ["session_started", "clear"]

        session.record.fail_new_session = True
        error = await command(ws, "new_session")
        assert error["error"] == "could not start a new session: sessions: disk full"
    _, _, body = await http_get(session.port, "/metrics")
    assert b'captioner_errors_total{kind="new_session"} 1.0' in body


async def test_metrics_scrape_parses_and_has_the_session_metrics(session):
    p = session.pipeline
    t0 = time.time_ns() - 10 * 1_000_000_000
    p.publish(Status("listening", t0))
    p.publish(caption("Hi", final=False, end_s=5.0, emitted_ns=t0 + 5_500_000_000))
    p.publish(caption("Hi.", end_s=5.0, emitted_ns=t0 + 7_000_000_000))
    p.publish(levels("floor", -30.0, -10.0, overflows=3, dropped=2))
    p.publish(Status("translation_unavailable", time.time_ns(), detail={"lang": "en"}))
    p.workers["floor"].dropped_chunks = 4
    session.room.publish_figures()
    async with connect(f"ws://127.0.0.1:{session.port}/ws") as viewer:
        await recv_json(viewer)
        status, headers, body = await http_get(session.port, "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    for name in ("captioner_caption_latency_seconds", "captioner_committed_captions",
                 "captioner_viewers", "captioner_translation_queue_depth",
                 "captioner_errors", "captioner_audio_overflows",
                 "captioner_audio_dropped_blocks", "captioner_asr_dropped_chunks"):
        assert name in families, name
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in families.values() for s in f.samples}
    assert samples[("captioner_viewers", ())] == 1
    assert samples[("captioner_caption_latency_seconds_count",
                    (("kind", "committed"), ("source", "floor")))] == 1
    assert samples[("captioner_committed_captions_total",
                    (("lang", "en"), ("source", "floor")))] == 1
    assert samples[("captioner_errors_total", (("kind", "translation_unavailable"),))] == 1
    assert samples[("captioner_audio_overflows_total", (("input", "floor"),))] == 3
    assert samples[("captioner_asr_dropped_chunks_total", (("input", "floor"),))] == 4


async def test_healthz_has_each_component(session):
    session.pipeline.controls.disabled_inputs.add("booth")
    session.room.publish_figures()
    session.pipeline.publish(Status("input_lost", time.time_ns(), input_id="floor"))
    status, _, body = await http_get(session.port, "/healthz")
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok"
    components = health["components"]
    assert components["inputs"] == {"floor": {"status": "lost"},
                                    "booth": {"status": "disabled"}}
    assert components["recording"]["status"] == "ok"
    assert components["screens"] == {"status": "live", "viewers": 0}
    assert components["translation"]["status"] == "off"


async def test_the_room_journals_then_gates_then_publishes_on_the_bus(session):
    journal_sink, to_screens = session.pipeline.sinks
    assert journal_sink == session.journal.append
    assert to_screens == session.room._to_screens
    seen = []
    session.room.bus.subscribe(lambda published: seen.append(published.event))
    ws = await authed(session)
    async with ws:
        await command(ws, "pause")
        session.pipeline.publish(caption("Held back.", id="h"))
    assert [e.text for e in session.journal if hasattr(e, "text")] == ["Held back."]
    assert [getattr(e, "state", None) for e in seen] == ["paused"]  # not the caption
    state = session.console.state()  # the console still shows what is said
    assert state["screens"]["en"]["lines"][-1] == "Held back."


# -- the pipeline honours disabled inputs


class RecordingWorker:
    """Stands in for an InputWorker: records what it is fed."""

    def __init__(self) -> None:
        self.fed: list[AudioChunk] = []
        self.passes = 0
        self.asr_seconds = 0.0
        self.dropped_chunks = 0
        self._closed = asyncio.Event()

    def feed(self, chunk: AudioChunk) -> None:
        self.fed.append(chunk)

    def load_vad(self) -> None:
        pass

    def close(self) -> None:
        self._closed.set()

    async def run(self) -> None:
        await self._closed.wait()


class ChunkSource:
    inputs = ("floor", "booth")

    def __init__(self, controls) -> None:
        self.controls = controls

    async def events(self):
        for i in range(4):
            if i == 2:  # the operator switches the booth off mid-stream
                self.controls.disabled_inputs.add("booth")
            for input_id in self.inputs:
                yield AudioChunk(input_id, np.full(160, 0.5, np.float32), i * 0.01,
                                 time.time_ns())

    def stop(self) -> None:
        pass


async def test_disabled_input_is_fed_silence_and_keeps_its_timeline(monkeypatch):
    pipeline = LivePipeline(FakeEngine(), None, [])
    pipeline.source = ChunkSource(pipeline.controls)
    monkeypatch.setattr(pipeline, "_worker",
                        lambda i: pipeline.workers.setdefault(i, RecordingWorker()))
    await pipeline.run()
    booth, floor = pipeline.workers["booth"].fed, pipeline.workers["floor"].fed
    assert [c.start_s for c in booth] == [0.0, 0.01, 0.02, 0.03]
    assert [float(np.abs(c.samples).max()) for c in booth] == [0.5, 0.5, 0.0, 0.0]
    assert [float(np.abs(c.samples).max()) for c in floor] == [0.5] * 4
