"""Unit tests of capture: level maths, detectors, the drop-oldest queue, and the microphone
source's logic driven by a fake device (no sound card, no PortAudio)."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest

from captioner.errors import AudioError
from captioner.events import AudioChunk, Status
from captioner.inputs.capture import DropOldestQueue, MicrophoneSource
from captioner.inputs.levels import (
    FLOOR_DBFS,
    ClipDetector,
    LevelMeter,
    SilenceDetector,
    block_levels,
    to_dbfs,
)
from tests.test_devices import DEVICES, dev

RATE = 48000


def sine(freq: float, amplitude: float, seconds: float, rate: int = RATE,
         start: int = 0) -> np.ndarray:
    n = np.arange(start, start + round(seconds * rate))
    return (amplitude * np.sin(2 * np.pi * freq * n / rate)).astype(np.float32)


def blocks(signal: np.ndarray, block_s: float = 0.1, rate: int = RATE):
    size = round(block_s * rate)
    for i in range(0, len(signal), size):
        yield signal[i:i + size]


# -- levels ------------------------------------------------------------------------------------


@pytest.mark.parametrize("amplitude", [1.0, 0.5, 0.1, 0.001])
def test_sine_levels_match_theory(amplitude):
    rms, peak = block_levels(sine(1000, amplitude, 0.1))
    assert rms == pytest.approx(20 * math.log10(amplitude / math.sqrt(2)), abs=0.1)
    assert peak == pytest.approx(20 * math.log10(amplitude), abs=0.1)


def test_silence_reads_as_floor():
    assert block_levels(np.zeros(4800, np.float32)) == (FLOOR_DBFS, FLOOR_DBFS)
    assert block_levels(np.zeros(0, np.float32)) == (FLOOR_DBFS, FLOOR_DBFS)
    assert to_dbfs(0.0) == FLOOR_DBFS
    assert to_dbfs(1e-12) == FLOOR_DBFS


def test_meter_publishes_four_times_a_second_with_period_levels():
    meter = LevelMeter(RATE)
    published = []
    for block in blocks(sine(440, 0.5, 2.0)):
        levels, warnings = meter.add(block)
        assert warnings == []
        if levels is not None:
            published.append(levels)
    assert len(published) == 8
    for levels in published:
        assert levels.rms_dbfs == pytest.approx(-9.03, abs=0.1)
        assert levels.peak_dbfs == pytest.approx(-6.02, abs=0.1)
        assert not levels.clipping and not levels.silent


def test_meter_flags_clipping_and_silence_per_period():
    meter = LevelMeter(RATE)
    loud = [lv for b in blocks(np.clip(sine(440, 1.5, 0.5), -1, 1)) if (lv := meter.add(b)[0])]
    assert loud and all(lv.clipping and lv.peak_dbfs == 0.0 for lv in loud)
    quiet = [lv for b in blocks(sine(440, 1e-4, 0.5)) if (lv := meter.add(b)[0])]
    assert quiet and all(lv.silent and not lv.clipping for lv in quiet)


def test_one_clipped_block_is_not_clipping():
    clip = ClipDetector()
    assert clip.update(0.1, 0.0) is None
    for i in range(2, 40):
        assert clip.update(i * 0.1, -6.0) is None
    assert not clip.active


def test_clipping_warns_after_several_blocks_then_clears_and_is_rate_limited():
    clip = ClipDetector(min_blocks=3, window_s=2.0, repeat_s=10.0)
    t = 0.0
    events = []

    def feed(peak, seconds):
        nonlocal t
        for _ in range(round(seconds / 0.1)):
            t = round(t + 0.1, 6)
            warning = clip.update(t, peak)
            if warning is not None:
                events.append((t, warning))

    feed(0.0, 0.2)
    assert events == []
    feed(0.0, 0.1)
    assert [(w.kind, w.active) for _, w in events] == [("clipping", True)]
    assert events[0][1].detail["clipped_blocks"] == 3
    feed(-0.05, 3.0)      # still clipping, but within repeat_s: no repeat yet
    assert len(events) == 1
    feed(-20.0, 2.5)      # clean for the window: cleared
    assert [(w.kind, w.active) for _, w in events][-1] == ("clipping", False)
    feed(0.0, 0.5)        # a new episode 6 s after the warning: not announced again
    assert len(events) == 2 and clip.active
    feed(0.0, 5.0)        # ...until repeat_s has passed since the last warning
    assert [(w.kind, w.active) for _, w in events][-1] == ("clipping", True)
    assert events[-1][0] == pytest.approx(events[0][0] + 10.0, abs=0.01)


def test_dead_channel_warns_after_five_seconds_and_recovers():
    meter = LevelMeter(RATE, silence=SilenceDetector(after_s=5.0, repeat_s=60.0))
    warnings = []
    noise = np.random.default_rng(1).normal(0, 10 ** (-80 / 20), round(7 * RATE))
    for block in blocks(noise.astype(np.float32)):
        for warning in meter.add(block)[1]:
            warnings.append((meter.elapsed_s, warning))
    assert len(warnings) == 1
    at, warning = warnings[0]
    assert (warning.kind, warning.active) == ("silent_channel", True)
    assert 5.0 < at <= 5.2
    assert warning.detail["silent_s"] > 5.0
    assert warning.detail["rms_dbfs"] == pytest.approx(-80, abs=1)
    # Speech comes back: the warning clears once, at the first loud block.
    cleared = [w for b in blocks(sine(300, 0.1, 1.0)) for w in meter.add(b)[1]]
    assert [(w.kind, w.active) for w in cleared] == [("silent_channel", False)]


def test_dead_channel_warning_repeats_no_more_than_its_interval():
    silence = SilenceDetector(after_s=5.0, repeat_s=30.0)
    times = [end for i in range(700)
             if silence.update(i * 0.1, (end := (i + 1) * 0.1), FLOOR_DBFS) is not None]
    assert len(times) == 3
    assert times[1] - times[0] == pytest.approx(30.0, abs=0.11)


def test_short_pauses_are_not_dead_channels():
    meter = LevelMeter(RATE)
    talk = np.concatenate([sine(200, 0.2, 2.0), np.zeros(4 * RATE, np.float32)] * 3)
    assert [w for b in blocks(talk) for w in meter.add(b)[1]] == []


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
