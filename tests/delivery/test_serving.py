"""The serving side, built from a room's bus alone: --print, the viewers' fan-out from
the start, and /healthz from the room's figures (real sockets)."""

from __future__ import annotations

import io
import json
import time

from captioner.bus.local import LocalBus
from captioner.bus.messages import InputFigures, Published, RecordFigures, RoomFigures
from captioner.config import Config
from captioner.delivery.serving import Serving, ServingPlan, build_serving, printer
from captioner.events import Caption, Status
from tests.httptools import http_get


def cap(seq: int, text: str) -> Caption:
    return Caption(id=f"u{seq}", final=True, lang="en", text=text, start_s=0.0, end_s=1.0,
                   emitted_ns=time.time_ns(), seq=seq)


def test_the_printer_writes_json_lines_but_not_levels():
    out = io.StringIO()
    handler = printer(out)
    handler(Published("r", Status("levels", 1, input_id="floor")))
    handler(Published("r", cap(1, "Hello.")))
    (line,) = out.getvalue().splitlines()
    assert json.loads(line)["text"] == "Hello." and json.loads(line)["seq"] == 1


def test_health_comes_from_the_rooms_figures():
    bus = LocalBus()
    serving = Serving(bus)
    assert serving.health()["committed"] == 0  # before the room published any
    bus.publish_figures(RoomFigures(
        at_ns=1, committed=5, input_pass=2,
        inputs=(InputFigures("floor", passes=3, dropped_chunks=1),),
        translation_engines={"ru": "whisper-translate"},
        recording=RecordFigures("s", "/s")))
    assert serving.health() == {
        "committed": 5, "input_pass": 2,
        "inputs": {"floor": {"passes": 3, "dropped_chunks": 1}},
        "translation": True, "recording": True}


async def test_print_only_serves_nothing_and_prints_what_the_room_publishes(capsys):
    bus = LocalBus()
    serving = await build_serving(Config(), ServingPlan(serve=False, print_events=True), bus)
    bus.publish(cap(1, "Printed."))
    await serving.close()
    bus.publish(cap(2, "Not any more."))
    assert serving.server is None and serving.broadcaster is None
    assert [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()] == [
        "Printed."]


async def test_viewers_catch_up_from_the_start_of_the_bus_and_healthz_answers():
    bus = LocalBus(retained=[cap(1, "Before the restart.")])
    bus.publish_figures(RoomFigures(at_ns=1, committed=1))
    serving = await build_serving(Config(), ServingPlan(host="127.0.0.1", port=0,
                                                        session="s-1"), bus)
    try:
        bus.publish(cap(2, "After it."))
        assert serving.broadcaster.last_seq == 2
        assert [m["text"] for m in serving.broadcaster.snapshot(None)
                if m.get("type") == "caption"] == ["Before the restart.", "After it."]
        status, _, body = await http_get(serving.server.port, "/healthz")
        health = json.loads(body)
        assert status == 200 and health["committed"] == 1
        assert health["components"]["operator"]["status"] == "ok"
    finally:
        await serving.close()
