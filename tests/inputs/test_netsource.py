"""The network-stream input: its pure parts, and NetworkSource against local HTTP servers.

The servers run in threads on 127.0.0.1 (port 0): plain file serving for a recording,
and a "live encoder" that sends a WAV of unknown length in real time, which the tests
kill and start again on the same port. The tests marked integration run ``captioner
run`` with the real model.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from captioner.config import Config, InputConfig
from captioner.errors import AudioError
from captioner.events import SAMPLE_RATE, AudioChunk, Status
from captioner.inputs.audio import decode_file
from captioner.inputs.netsource import NetworkSource, redact
from captioner.runner import open_source, plan_inputs
from captioner.synth import write_wav
from tests.conftest import run_cli
from tests.sourcetools import SourceEvents, dominant_hz
from tests.textnorm import wer

# -- pure parts ----------------------------------------------------------------------------


def test_redact_hides_passwords_only():
    assert redact("rtmp://user:secret@host/live/key") == "rtmp://user:***@host/live/key"
    assert redact("http://host:8000/a.mp3") == "http://host:8000/a.mp3"


def test_a_url_is_planned_as_a_network_stream():
    cfg = Config()
    assert plan_inputs(cfg, "http://127.0.0.1:1/x.wav") == ("url", "http://127.0.0.1:1/x.wav",
                                                             cfg.inputs)
    both = (InputConfig("floor", "floor", "udp://0.0.0.0:5000", 1),
            InputConfig("booth", "interpretation", "udp://0.0.0.0:5000", 2))
    assert plan_inputs(Config(inputs=both), None) == ("url", "udp://0.0.0.0:5000", both)


# -- servers ---------------------------------------------------------------------------------


def wav_header(rate: int, channels: int, data_bytes: int = 0xFFFFFFFF) -> bytes:
    """A PCM WAV header; the default sizes say "unknown length", as live encoders do."""
    riff = 0xFFFFFFFF if data_bytes == 0xFFFFFFFF else 36 + data_bytes
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2,
                          16)
            + b"data" + struct.pack("<I", data_bytes))


class Handler(http.server.SimpleHTTPRequestHandler):
    """Files from a folder; ``/live`` streams the server's audio like a live encoder."""

    server: LocalHttpd

    def setup(self) -> None:
        super().setup()
        with self.server.owner.lock:
            self.server.owner.connections.add(self.connection)
            self.server.owner.requests += 1
            self.nth = self.server.owner.requests

    def log_message(self, *args) -> None:
        pass

    def copyfile(self, source, outputfile) -> None:
        owner = self.server.owner
        limit = owner.cut_first_after if self.nth == 1 else None
        sent = 0
        while chunk := source.read(16384):
            if limit is not None and sent + len(chunk) > limit:
                outputfile.write(chunk[:limit - sent])
                outputfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)   # the server "dies" mid-file
                return
            outputfile.write(chunk)
            sent += len(chunk)

    def do_GET(self) -> None:
        if self.path != "/live":
            return super().do_GET()
        owner = self.server.owner
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.end_headers()
        pcm = owner.live_pcm
        channels = pcm.shape[1]
        step = owner.live_rate // 20                     # 50 ms blocks, in real time
        started, sent = time.monotonic(), 0
        try:
            self.wfile.write(wav_header(owner.live_rate, channels))
            while not owner.dead.is_set():
                if owner.stall_after_s is not None and \
                        sent >= owner.stall_after_s * owner.live_rate:
                    owner.dead.wait()                    # connected, but sending nothing
                    break
                start = sent % len(pcm)
                self.wfile.write(pcm[start:start + step].tobytes())
                sent += min(step, len(pcm) - start)
                owner.dead.wait(max(0.0, started + sent / owner.live_rate - time.monotonic()))
        except OSError:   # the client went away, or the server was killed
            pass


class LocalHttpd(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: StreamServer


class StreamServer:
    """A local HTTP server in a thread that can be killed and started again on its port.

    Args:
        folder: What it serves as files.
        live: ``(frames, channels)`` float samples that ``/live`` streams in a loop.
        live_rate: Their rate.
        cut_first_after: Bytes after which the first file response breaks off.
        stall_after_s: Seconds of ``/live`` after which it stops sending (but stays up).
    """

    def __init__(self, folder: Path, live: np.ndarray | None = None, live_rate: int = 16000,
                 cut_first_after: int | None = None, stall_after_s: float | None = None) -> None:
        self.folder = folder
        self.live_pcm = None if live is None else np.round(
            np.clip(live, -1, 1) * 32767).astype("<i2")
        self.live_rate = live_rate
        self.cut_first_after = cut_first_after
        self.stall_after_s = stall_after_s
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        self.requests = 0
        self.dead = threading.Event()
        self.port = 0
        self._httpd: LocalHttpd | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> StreamServer:
        self.dead.clear()
        self._httpd = LocalHttpd(("127.0.0.1", self.port),
                                functools.partial(Handler, directory=str(self.folder)))
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        name="test-http")
        self._thread.start()
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def kill(self) -> None:
        """Stops listening and breaks every open connection."""
        self.dead.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(5)
            self._httpd = None
        with self.lock:
            for conn in self.connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.connections.clear()

    def __enter__(self) -> StreamServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tone(freq: float, seconds: float, rate: int = SAMPLE_RATE, amplitude: float = 0.5):
    n = np.arange(round(seconds * rate))
    return (amplitude * np.sin(2 * np.pi * freq * n / rate)).astype(np.float32)


# -- the source ------------------------------------------------------------------------------


class Listen(SourceEvents):
    """A network source run, with helpers for its statuses."""

    def states(self) -> list[str]:
        return [e.state for e in self.events if isinstance(e, Status) and e.state != "levels"]

    def status(self, state: str) -> Status | None:
        return next((e for e in self.events if isinstance(e, Status) and e.state == state), None)

    def index(self, state: str) -> int:
        return self.events.index(self.status(state))

    def chunks(self, input_id: str = "floor", since: int = 0, until: int | None = None):
        return [e for e in self.events[since:until]
                if isinstance(e, AudioChunk) and e.input_id == input_id]


def assert_contiguous(chunks: list[AudioChunk]) -> None:
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start_s == pytest.approx(a.end_s, abs=1e-6)


async def test_speech_recording_over_http_arrives_whole_at_16_khz(clips):
    clip = clips["en_water"].path
    with StreamServer(clip.parent) as server:
        source = NetworkSource(server.url(clip.name), speed=0)
        async with Listen(source) as listen:
            await listen.wait_for(lambda: listen.status("ended"), 30, "the end of the file")
    assert listen.states() == ["listening", "ended"]
    detail = listen.status("listening").detail
    assert detail["source"] == "network" and detail["format"] == "wav"
    assert detail["live"] is False and detail["realtime"] is False   # speed 0: unpaced
    chunks = listen.chunks()
    assert chunks[0].start_s == 0.0
    assert_contiguous(chunks)
    assert all(c.samples.dtype == np.float32 and c.samples.ndim == 1 for c in chunks)
    assert {len(c.samples) for c in chunks[:-1]} == {1600}
    got = np.concatenate([c.samples for c in chunks])
    want = decode_file(clip)   # the same file decoded locally
    assert abs(len(got) - len(want)) <= 32
    n = min(len(got), len(want))
    assert np.corrcoef(got[:n], want[:n])[0, 1] > 0.999


async def test_channels_become_inputs_and_a_recording_is_paced(tmp_path):
    write_wav(tmp_path / "st.wav", np.stack([tone(440, 2.0, 44100), tone(1000, 2.0, 44100)],
                                            axis=1), rate=44100)
    with StreamServer(tmp_path) as server:
        source = NetworkSource(server.url("st.wav"), {"floor": 0, "booth": 1}, speed=4)
        began = time.monotonic()
        async with Listen(source) as listen:
            await listen.wait_for(lambda: listen.status("ended"), 30, "the end of the file")
        took = time.monotonic() - began
    detail = listen.status("listening").detail
    assert detail["realtime"] is True and detail["channels"] == 2 and detail["samplerate"] == 44100
    assert detail["channel_map"] == {"floor": 0, "booth": 1}
    assert took >= 2.0 / 4 * 0.9     # paced at 4x real time, not as fast as it downloads
    for input_id, freq in (("floor", 440), ("booth", 1000)):
        chunks = listen.chunks(input_id)
        assert_contiguous(chunks)
        audio = np.concatenate([c.samples for c in chunks])
        assert len(audio) / SAMPLE_RATE == pytest.approx(2.0, abs=0.01)
        assert dominant_hz(audio[1600:-1600]) == pytest.approx(freq, abs=3)
    levels = [e for e in listen.events if isinstance(e, Status) and e.state == "levels"]
    assert {s.input_id for s in levels} == {"floor", "booth"}


async def test_live_stream_drop_is_reported_restored_and_time_skips_the_gap(tmp_path):
    # 48 kHz stereo: FFmpeg's WAV reader looks at 64 KB before it starts (2 s at 16 kHz).
    live = np.stack([tone(440, 1.0, 48000)] * 2, axis=1)
    server = StreamServer(tmp_path, live=live, live_rate=48000).start()
    source = NetworkSource(server.url("live"), backoff_s=(0.2,))
    try:
        async with Listen(source) as listen:
            await listen.wait_for(lambda: len(listen.chunks()) >= 5, 10, "audio")
            assert listen.status("listening").detail["live"] is True
            assert listen.status("listening").detail["realtime"] is False
            killed = time.monotonic()
            await asyncio.to_thread(server.kill)
            await listen.wait_for(lambda: listen.status("input_lost"), 10, "input_lost")
            await asyncio.sleep(0.6)   # the sender stays away a while
            await asyncio.to_thread(server.start)   # same port
            await listen.wait_for(lambda: listen.status("input_restored"), 10, "input_restored")
            restored = listen.index("input_restored")
            await listen.wait_for(lambda: len(listen.chunks(since=restored)) >= 5, 10,
                                  "audio after the restoration")
            away_s = time.monotonic() - killed
    finally:
        server.kill()
    assert listen.states() == ["listening", "input_lost", "input_restored", "stopped"]
    lost = listen.status("input_lost").detail
    assert lost["url"] == server.url("live") and lost["error"]
    gap_s = listen.status("input_restored").detail["gap_s"]
    assert 0.6 <= gap_s <= away_s
    before, after = listen.chunks(until=restored), listen.chunks(since=restored)
    assert_contiguous(before)
    assert_contiguous(after)
    assert after[0].start_s == pytest.approx(before[-1].end_s + gap_s, abs=1e-3)
    assert dominant_hz(np.concatenate([c.samples for c in after])) == pytest.approx(440, abs=3)


async def test_a_stalled_stream_counts_as_lost(tmp_path):
    live = np.stack([tone(440, 1.0, 48000)] * 2, axis=1)
    with StreamServer(tmp_path, live=live, live_rate=48000, stall_after_s=0.5) as server:
        source = NetworkSource(server.url("live"), read_timeout_s=0.5, backoff_s=(0.2,))
        async with Listen(source) as listen:
            await listen.wait_for(lambda: listen.status("input_lost"), 10, "input_lost")
    assert listen.states()[:2] == ["listening", "input_lost"]
    assert listen.states()[-1] == "stopped"
    assert listen.status("input_lost").detail["error"] == "no data for 0.5 s"


async def test_a_recording_cut_off_resumes_where_it_broke(tmp_path):
    rate = 22050
    # A rising chirp: a replayed stretch would show up as extra length.
    t = np.arange(3 * rate) / rate
    write_wav(tmp_path / "chirp.wav", (0.4 * np.sin(2 * np.pi * (200 + 300 * t) * t))
              .astype(np.float32), rate=rate)
    with StreamServer(tmp_path, cut_first_after=44 + rate * 2) as server:   # after ~1 s
        source = NetworkSource(server.url("chirp.wav"), speed=0, backoff_s=(0.1,))
        async with Listen(source) as listen:
            await listen.wait_for(lambda: listen.status("ended"), 20, "the end of the file")
    assert listen.states() == ["listening", "input_lost", "input_restored", "ended"]
    restored = listen.index("input_restored")
    before, after = listen.chunks(until=restored), listen.chunks(since=restored)
    got = np.concatenate([c.samples for c in before + after])
    want = decode_file(tmp_path / "chirp.wav")
    assert sum(len(c.samples) for c in before) / SAMPLE_RATE == pytest.approx(1.0, abs=0.1)
    assert len(got) == pytest.approx(len(want), abs=64)
    n = min(len(got), len(want))
    assert np.corrcoef(got[:n], want[:n])[0, 1] > 0.99


async def test_an_unreachable_url_fails_at_the_first_connection():
    url = f"http://127.0.0.1:{free_port()}/x.wav"
    with pytest.raises(AudioError, match="cannot open network stream .*refused"):
        NetworkSource(url).connect()
    source = NetworkSource(url)
    with pytest.raises(AudioError, match="refused"):
        async for _ in source.events():
            pass


async def test_run_connects_to_a_stream_off_the_event_loop(monkeypatch):
    # Connecting may take open_timeout_s (10 s): on the loop, everything waits for it.
    threads: list[threading.Thread] = []
    monkeypatch.setattr(NetworkSource, "connect",
                        lambda self: threads.append(threading.current_thread()))
    plan = ("url", "http://127.0.0.1:9/talk.wav", (InputConfig(),))
    source = await open_source(plan, speed=1.0)
    assert isinstance(source, NetworkSource) and source.url == plan[1]
    assert len(threads) == 1 and threads[0] is not threading.current_thread()


async def test_run_s_refused_connection_says_so_in_one_line():
    url = f"http://127.0.0.1:{free_port()}/x.wav"
    with pytest.raises(AudioError) as refused:
        await open_source(("url", url, (InputConfig(),)), speed=1.0)
    assert refused.value.message == f"cannot open network stream {url}: Connection refused"


async def test_too_few_channels_fail_at_once(tmp_path):
    write_wav(tmp_path / "mono.wav", tone(440, 0.5))
    with StreamServer(tmp_path) as server:
        source = NetworkSource(server.url("mono.wav"), {"floor": 0, "booth": 1})
        with pytest.raises(AudioError, match="wants channel 2"):
            await asyncio.to_thread(source.connect)


# -- captioner run ---------------------------------------------------------------------------


def printed(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.mark.integration
def test_run_captions_a_recording_served_over_http(clips, model_dir, tmp_path):
    clip = clips["en_welcome"]
    with StreamServer(clip.path.parent) as server:
        done = run_cli("run", "--input", server.url(clip.path.name), "--print", "--speed", "4",
                       "--port", "0", "--sessions", str(tmp_path / "s"), timeout=180)
    assert done.returncode == 0, done.stderr
    lines = printed(done.stdout)
    assert lines[0]["state"] == "listening"
    assert lines[0]["source"] == "network" and lines[0]["realtime"] is True
    assert any(m.get("state") == "ended" for m in lines)
    floor = [m for m in lines if m["type"] == "caption" and m["final"]
             and m["source"] == "floor"]
    assert floor and {m["lang"] for m in floor} == {"en"}
    assert wer(clip.text, " ".join(m["text"] for m in floor)) <= 0.25


@pytest.mark.integration
def test_run_fails_at_once_with_one_line_on_an_unreachable_url(model_dir, tmp_path):
    url = f"http://127.0.0.1:{free_port()}/talk.wav"
    done = run_cli("run", "--input", url, "--print", "--port", "0",
                   "--sessions", str(tmp_path / "s"), timeout=120)
    assert done.returncode == 1
    assert done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert errors == [f"captioner: error: cannot open network stream {url}: "
                      "Connection refused"], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())
