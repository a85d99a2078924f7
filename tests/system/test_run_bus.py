"""``captioner run --bus`` with the real model, a real nats-server and a subprocess: a
room whose broker is down at start captions on its own, joins when the broker comes up,
and the venue's bus ends with exactly the captions of its journal; a malformed bus URL
is one line and the room runs without the bus."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from bench.nats_server import NatsServer, free_port
from captioner.bus.connection import BusLink, BusOptions
from captioner.bus.edge import JetStreamBus
from captioner.inputs.audio import decode_file
from captioner.synth import silence, write_wav
from tests import nats_server as broker
from tests.conftest import REPO

pytestmark = pytest.mark.integration
nats_factory = broker.nats_factory

WAIT_S = 240.0


class Lines:
    """A subprocess stream read on a thread; waits for a line that matches."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._cv = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        with stream:
            for line in stream:
                with self._cv:
                    self.lines.append(line)
                    self._cv.notify_all()
        with self._cv:
            self.lines.append("")  # the end
            self._cv.notify_all()

    def wait_for(self, predicate, timeout_s: float = WAIT_S) -> str:
        """The first line that matches, once it came; fails at the stream's end."""

        def match() -> str | None:
            return next((x for x in self.lines if x and predicate(x)), None)

        with self._cv:
            self._cv.wait_for(lambda: match() is not None or "" in self.lines, timeout_s)
            line = match()
        assert line is not None, f"not seen in: {''.join(self.lines)}"
        return line

    def ended(self, timeout_s: float = WAIT_S) -> None:
        with self._cv:
            assert self._cv.wait_for(lambda: "" in self.lines, timeout_s)

    def text(self) -> str:
        with self._cv:
            return "".join(self.lines)


def committed(line: str) -> bool:
    try:
        msg = json.loads(line)
    except ValueError:
        return False
    return msg.get("type") == "caption" and msg.get("final") is True


async def bus_captions(server: NatsServer, room: str, n: int) -> list[dict]:
    """The committed captions of ``room`` on the bus, from the first, until ``n`` came."""
    link = BusLink(BusOptions(server.url))
    await link.open()
    got: list = []
    arrived = asyncio.Event()
    bus = JetStreamBus(link, room)

    def on(published) -> None:
        if published.seq is not None:
            got.append(published.event)
            arrived.set()

    subscription = bus.subscribe(on, since_seq=0)
    try:
        async with asyncio.timeout(60):
            while len(got) < n:
                arrived.clear()
                await arrived.wait()
        await asyncio.sleep(0)  # nothing more may come: it would be a repeat or a stray
        return [{"seq": c.seq, "text": c.text, "id": c.id} for c in got]
    finally:
        subscription.close()
        await bus.close()
        await link.close()


def test_a_room_started_while_the_broker_is_down_joins_later_with_nothing_lost(
        clips, tmp_path, model_dir, nats_factory):
    # Two sentences with a pause: captions are committed before the broker comes up.
    speech = [decode_file(clips["en_water"].path), silence(1.5),
              decode_file(clips["ru_water"].path), silence(1.0)]
    clip = write_wav(tmp_path / "two.wav", np.concatenate(speech))
    port = free_port()
    server = nats_factory("store", port=port)  # not started yet: the broker is down
    sessions = tmp_path / "sessions"
    proc = subprocess.Popen(
        [sys.executable, "-m", "captioner", "run", "--input", str(clip), "--print",
         "--speed", "1", "--no-server", "--sessions", str(sessions),
         "--bus", f"nats://127.0.0.1:{port}", "--room", "hall-a"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    try:
        err.wait_for(lambda x: "room hall-a cannot publish" in x)
        out.wait_for(committed)  # captioning goes on without the bus
        server.start()
        err.wait_for(lambda x: "room hall-a published live" in x)
        assert proc.wait(timeout=WAIT_S) == 0, err.text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out.ended(), err.ended()  # both pipes read to their end and closed
    (session,) = sessions.iterdir()
    journal = [json.loads(x) for x in (session / "journal.jsonl").read_text("utf-8").splitlines()]
    want = [{"seq": m["seq"], "text": m["text"], "id": m["id"]} for m in journal
            if m.get("type") == "caption"]
    assert len(want) >= 2
    assert asyncio.run(bus_captions(server, "hall-a", len(want))) == want
    states = [m.get("state") for m in journal if m.get("type") == "status"]
    assert "bus_down" not in states  # the console's news, not the record's


def test_a_malformed_bus_url_is_one_line_and_the_room_runs_without_it(clips, tmp_path,
                                                                      model_dir):
    result = subprocess.run(
        [sys.executable, "-m", "captioner", "run", "--input", str(clips["en_water"].path),
         "--print", "--speed", "0", "--no-server", "--no-record",
         "--bus", "http://user:s3cret@127.0.0.1:4222", "--room", "hall-a"],
        cwd=REPO, capture_output=True, text=True, timeout=WAIT_S)
    assert result.returncode == 0, result.stderr
    lines = [x for x in result.stderr.splitlines() if x.startswith("captioner: bus")]
    assert len(lines) == 1 and "the room goes on without the venue's bus" in lines[0]
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr
    assert any(committed(x) for x in result.stdout.splitlines())
