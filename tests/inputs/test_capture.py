"""Unit tests of capture: the drop-oldest queue, and the microphone source's logic driven
by a fake device (no sound card, no PortAudio)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from captioner.errors import AudioError
from captioner.events import AudioChunk, Status
from captioner.inputs.capture import DropOldestQueue, MicrophoneSource
from tests.inputs.test_devices import DEVICES, dev

# -- queue -------------------------------------------------------------------------------------


def test_queue_drops_oldest_and_counts():
    queue: DropOldestQueue[int] = DropOldestQueue(3)
    assert [queue.put(i) for i in range(5)] == [False, False, False, True, True]
    assert queue.dropped == 2 and len(queue) == 3
    assert queue.drain() == [2, 3, 4]
    assert len(queue) == 0
    queue.put(9)
    queue.clear()
    assert queue.drain() == [] and queue.dropped == 2
    with pytest.raises(ValueError):
        DropOldestQueue(0)


# -- the source, on a fake device --------------------------------------------------------------


class Flags:
    def __init__(self, overflow: bool) -> None:
        self.input_overflow = overflow


class FakeStream:
    def __init__(self, device, rate, channels, blocksize, callback, finished):
        self.device, self.rate, self.channels = device, rate, channels
        self.blocksize, self.callback, self.finished = blocksize, callback, finished
        self.started = self.closed = False
        self.frames = 0
        self.on_start = lambda: None

    def start(self):
        self.started = True
        self.on_start()

    def abort(self, ignore_errors=True):
        pass

    def close(self, ignore_errors=True):
        self.closed = True

    def push(self, freqs=(440.0, 1000.0), amplitude=0.5, overflow=False):
        """Delivers one block, channel i a sine at freqs[i], as PortAudio would."""
        n = np.arange(self.frames, self.frames + self.blocksize)
        data = np.stack([amplitude * np.sin(2 * np.pi * freqs[i % len(freqs)] * n / self.rate)
                         for i in range(self.channels)], axis=1).astype(np.float32)
        self.frames += self.blocksize
        self.callback(data, self.blocksize, None, Flags(overflow))


class FakeBackend:
    def __init__(self, devices):
        self.present = list(devices)
        self.streams: list[FakeStream] = []
        self.rescans = 0
        self.started = asyncio.Event()  # a stream was started (from the executor)
        self._loop = asyncio.get_running_loop()

    def devices(self, rescan=False):
        self.rescans += rescan
        return list(self.present)

    def open(self, device, samplerate, channels, blocksize, callback, finished_callback):
        if device not in self.present:
            raise AudioError(f"cannot open {device.name}")
        stream = FakeStream(device, samplerate, channels, blocksize, callback, finished_callback)
        stream.on_start = lambda: self._loop.call_soon_threadsafe(self.started.set)
        self.streams.append(stream)
        return stream

    @property
    def live(self):
        stream = self.streams[-1] if self.streams else None
        return stream if stream and stream.started and not stream.closed else None


async def feed(backend: FakeBackend, block_s: float, playing: asyncio.Event, **push):
    """Plays blocks into whatever stream is open, in real time, while ``playing`` is set."""
    while True:
        await playing.wait()
        if backend.live is not None:
            backend.live.push(**push)
        await asyncio.sleep(block_s)


def peak_hz(samples: np.ndarray, rate: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def fast_source(backend, device="umc404", channels=None, **kw):
    opts = dict(block_s=0.02, watchdog_s=0.2, start_timeout_s=1.0, backoff_s=(0.05,))
    opts.update(kw)
    return MicrophoneSource(device, channels, backend=backend, **opts)


async def test_source_splits_resamples_and_meters():
    backend = FakeBackend(DEVICES)
    source = fast_source(backend, channels={"floor": 0, "booth": 1})
    assert source.inputs == ("floor", "booth")
    playing = asyncio.Event()
    playing.set()
    feeder = asyncio.create_task(feed(backend, 0.02, playing, overflow=False))
    chunks: dict[str, list[AudioChunk]] = {"floor": [], "booth": []}
    statuses: list[Status] = []
    try:
        async with asyncio.timeout(10):
            async for event in source.events():
                if isinstance(event, AudioChunk):
                    chunks[event.input_id].append(event)
                    if sum(len(c.samples) for c in chunks["booth"]) >= 16000:
                        source.stop()
                else:
                    statuses.append(event)
    finally:
        feeder.cancel()
    stream = backend.streams[0]
    assert (stream.rate, stream.channels, stream.blocksize) == (48000.0, 2, 960)
    assert stream.closed
    assert statuses[0].state == "listening"
    assert statuses[0].detail["device"].startswith("Behringer")
    assert statuses[0].detail["channel_map"] == {"floor": 0, "booth": 1}
    assert statuses[-1].state == "stopped"
    for name, freq in (("floor", 440), ("booth", 1000)):
        pos = 0.0
        for chunk in chunks[name]:
            assert chunk.samples.dtype == np.float32
            assert chunk.start_s == pytest.approx(pos, abs=1e-9)
            pos = chunk.end_s
        audio = np.concatenate([c.samples for c in chunks[name]])
        assert abs(peak_hz(audio[1600:]) - freq) < 3
        levels = [s for s in statuses if s.state == "levels" and s.input_id == name]
        assert len(levels) >= 3
        assert levels[-1].detail["rms_dbfs"] == pytest.approx(-9.03, abs=0.2)
        assert levels[-1].detail["dropped"] == 0 and not levels[-1].detail["silent"]


async def test_drop_oldest_when_the_consumer_falls_behind():
    backend = FakeBackend(DEVICES)
    source = fast_source(backend, channels={"floor": 0}, queue_blocks=4, watchdog_s=5.0,
                         publish_every_s=0.05)
    agen = source.events()
    first = asyncio.ensure_future(agen.__anext__())
    async with asyncio.timeout(5):
        await backend.started.wait()
        # Ten blocks arrive while the consumer is busy elsewhere; two were overflows.
        for i in range(10):
            backend.live.push(overflow=i in (0, 1))
        events = [await first]
        while not any(isinstance(e, Status) and e.state == "levels" for e in events):
            events.append(await agen.__anext__())
        source.stop()
        async for event in agen:
            events.append(event)
    assert source.dropped == 6
    chunks = [e for e in events if isinstance(e, AudioChunk)]
    # The six oldest blocks (0.12 s) are gone; time stays live, so audio starts there.
    assert chunks[0].start_s == pytest.approx(6 * 0.02, abs=1e-6)
    total = sum(len(c.samples) for c in chunks)
    assert total == pytest.approx(4 * 320, abs=2)
    levels = next(e for e in events if isinstance(e, Status) and e.state == "levels")
    assert levels.detail["dropped"] == 6 and levels.detail["overflows"] == 2


async def test_device_loss_is_reported_once_and_recovered_by_name():
    backend = FakeBackend(DEVICES)
    source = fast_source(backend, channels={"floor": 0})
    playing = asyncio.Event()
    playing.set()
    feeder = asyncio.create_task(feed(backend, 0.02, playing))
    events = []
    unplugged_at = None

    def replug():
        backend.present = [*DEVICES[:1], dev(7, "Behringer UMC404HD 192k: USB Audio (hw:4,0)",
                                             channels=4)]
        playing.set()
    try:
        async with asyncio.timeout(10):
            async for event in source.events():
                events.append(event)
                state = getattr(event, "state", None)
                chunks = [e for e in events if isinstance(e, AudioChunk)]
                if unplugged_at is None and len(chunks) >= 10:
                    # The cable is pulled: no more callbacks, the device vanishes.
                    playing.clear()
                    backend.present = DEVICES[:1]
                    unplugged_at = len(events)
                elif state == "input_lost":
                    # Plugged into another port (new card number, new index) a little
                    # later, after a few failed reopening attempts.
                    asyncio.get_running_loop().call_later(0.3, replug)
                elif len(chunks) >= 10 and any(getattr(e, "state", None) == "input_restored"
                                               for e in events[-5:]):
                    source.stop()
    finally:
        feeder.cancel()
    states = [e.state for e in events if isinstance(e, Status) and e.state != "levels"]
    assert states == ["listening", "input_lost", "input_restored", "stopped"]
    lost = next(e for e in events if getattr(e, "state", None) == "input_lost")
    assert "no audio" in lost.detail["error"] and lost.detail["device"].startswith("Behringer")
    restored = next(e for e in events if getattr(e, "state", None) == "input_restored")
    assert restored.detail["gap_s"] > 0.4
    assert backend.streams[-1].device.index == 7 and backend.rescans >= 2
    assert all(s.closed for s in backend.streams)
    # Stream time jumps by the gap: before and after the restoration it is continuous.
    i = events.index(restored)
    before = [e for e in events[:i] if isinstance(e, AudioChunk)]
    after = [e for e in events[i:] if isinstance(e, AudioChunk)]
    assert after[0].start_s == pytest.approx(before[-1].end_s + restored.detail["gap_s"],
                                             abs=0.01)
    for chunks in (before, after):
        for a, b in zip(chunks, chunks[1:], strict=False):
            assert b.start_s == pytest.approx(a.end_s, abs=1e-9)


async def test_stream_that_ends_by_itself_is_a_loss():
    backend = FakeBackend(DEVICES)
    source = fast_source(backend, channels={"floor": -1}, watchdog_s=30.0)
    playing = asyncio.Event()
    playing.set()
    feeder = asyncio.create_task(feed(backend, 0.02, playing))
    states = []
    try:
        async with asyncio.timeout(10):
            async for event in source.events():
                if not isinstance(event, Status) or event.state == "levels":
                    continue
                states.append(event.state)
                if event.state == "listening":
                    await asyncio.sleep(0.1)
                    backend.live.finished()          # PortAudio gave up on the device
                elif event.state == "input_restored":
                    source.stop()
    finally:
        feeder.cancel()
    assert states == ["listening", "input_lost", "input_restored", "stopped"]
    assert backend.streams[0].channels == 2  # downmix of the first pair


async def test_first_open_errors_raise():
    backend = FakeBackend(DEVICES)
    with pytest.raises(AudioError, match="no audio input matches"):
        async for _ in fast_source(backend, device="focusrite").events():
            pass
    with pytest.raises(AudioError, match="wants channel 5"):
        async for _ in fast_source(backend, channels={"floor": 0, "booth": 4}).events():
            pass


async def test_slow_consumer_is_not_a_lost_device():
    backend = FakeBackend(DEVICES)
    source = fast_source(backend, channels={"floor": 0}, watchdog_s=0.2)
    playing = asyncio.Event()
    playing.set()
    feeder = asyncio.create_task(feed(backend, 0.02, playing))
    states = []
    try:
        async with asyncio.timeout(10):
            async for event in source.events():
                if isinstance(event, Status):
                    states.append(event.state)
                    if event.state == "levels":
                        await asyncio.sleep(0.3)   # the consumer stalls past the watchdog
                        if states.count("levels") == 4:
                            source.stop()
    finally:
        feeder.cancel()
    assert "input_lost" not in states and states[-1] == "stopped"
