"""Integration: MicrophoneSource capturing from a virtual PulseAudio device.

A private PulseAudio daemon (see tests/pulse.py) provides a null sink; tones played
into it with ``paplay`` come back through its monitor source, which PortAudio opens
as ALSA's ``pulse`` device at 44.1 kHz while the sink runs at 48 kHz.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from captioner.events import AudioChunk, Status
from captioner.inputs.capture import MicrophoneSource
from tests.pulse import PulseDaemon, pulse_daemon, tone, write_wav  # noqa: F401
from tests.sourcetools import SourceEvents, dominant_hz

pytestmark = pytest.mark.integration

SINK = "capt_test"
LOUD_DBFS = -20.0    # the test tones are at -9 dBFS RMS; the idle sink is digital silence


@pytest.fixture
def stereo_sink(pulse_daemon: PulseDaemon):  # noqa: F811
    """A stereo 48 kHz null sink whose monitor is the default source."""
    pulse_daemon.null_sink_for_capture(SINK, channels=2, rate=48000)
    yield SINK
    pulse_daemon.unload_sink(SINK)


class Capture(SourceEvents):
    """A capture run, with helpers for its level statuses and chunks."""

    def describe(self) -> str:
        return str([(e.state, e.input_id, e.detail.get("rms_dbfs", e.detail))
                    for e in self.events if isinstance(e, Status)][-12:])

    def statuses(self, state: str, since: int = 0, input_id: str | None = None) -> list[Status]:
        return [e for e in self.events[since:] if isinstance(e, Status) and e.state == state
                and (input_id is None or e.input_id == input_id)]

    def index(self, state: str) -> int:
        return next(i for i, e in enumerate(self.events)
                    if isinstance(e, Status) and e.state == state)

    def loud_levels(self, since: int = 0, input_id: str | None = None) -> list[Status]:
        return [s for s in self.statuses("levels", since, input_id)
                if s.detail["rms_dbfs"] > LOUD_DBFS]

    def quiet_again(self, input_id: str | None = None) -> bool:
        """Whether the latest levels (of an input) are quiet, after loud ones."""
        levels = self.statuses("levels", input_id=input_id)
        return bool(self.loud_levels(input_id=input_id)) and \
            levels[-1].detail["rms_dbfs"] <= LOUD_DBFS

    def chunks(self, input_id: str, since: int = 0) -> list[AudioChunk]:
        return [e for e in self.events[since:]
                if isinstance(e, AudioChunk) and e.input_id == input_id]


def loud_part(chunks: list[AudioChunk]) -> np.ndarray:
    """The longest run of 50 ms frames above LOUD_DBFS in the chunks' 16 kHz audio."""
    audio = np.concatenate([c.samples for c in chunks])
    frame = 800
    frames = audio[:len(audio) // frame * frame].reshape(-1, frame)
    loud = 20 * np.log10(np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)) + 1e-12)
    loud = loud > LOUD_DBFS
    best, start = (0, 0), None
    for i, flag in enumerate([*loud, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            best = max(best, (i - start, start))
            start = None
    length, first = best
    return audio[first * frame:(first + length) * frame]


async def play(daemon: PulseDaemon, wav, sink: str = SINK) -> None:
    player = daemon.play(wav, sink)
    _, err = await asyncio.to_thread(player.communicate, timeout=15)
    assert player.returncode == 0, err.decode(errors="replace")


def assert_continuous(chunks: list[AudioChunk]) -> None:
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start_s == pytest.approx(a.end_s, abs=1e-6)


async def test_tone_is_captured_resampled_and_metered(pulse_daemon, stereo_sink,  # noqa: F811
                                                      tmp_path):
    wav = write_wav(tmp_path / "a440.wav", [tone(440, 1.5)])
    source = MicrophoneSource("pulse", {"floor": -1})
    async with Capture(source) as cap:
        await cap.wait_for(lambda: cap.statuses("listening"), 15, "audio to flow")
        await play(pulse_daemon, wav)
        await cap.wait_for(lambda: len(cap.loud_levels()) >= 4, 10, "the tone's levels")
        # ...and the tone's end, so the capture holds all of it.
        await cap.wait_for(lambda: cap.quiet_again(), 10, "silence after the tone")
    (listening,) = cap.statuses("listening")
    assert listening.detail["device"] == "pulse"
    assert listening.detail["samplerate"] == 44100 and listening.detail["channels"] == 2
    levels = cap.loud_levels()
    middle = levels[1:-1]   # the first and last periods straddle the tone's edges
    assert middle, levels
    for status in middle:
        assert status.detail["rms_dbfs"] == pytest.approx(-9.0, abs=1.0)
        assert status.detail["peak_dbfs"] == pytest.approx(-6.0, abs=1.0)
        assert not status.detail["clipping"] and not status.detail["silent"]
    assert cap.statuses("levels")[-1].detail["silent"]  # the idle sink after the tone
    chunks = cap.chunks("floor")
    assert_continuous(chunks)
    assert all(c.samples.dtype == np.float32 and c.samples.ndim == 1 for c in chunks)
    # Blocks of 4410 frames at 44.1 kHz come out as 1600 samples at 16 kHz on average
    # (soxr holds back its filter delay at first, then catches up; the flush at stop
    # adds one last short chunk).
    total = sum(len(c.samples) for c in chunks)
    assert abs(total - (len(chunks) - 1) * 1600) < 800
    part = loud_part(chunks)
    assert len(part) / 16000 == pytest.approx(1.5, abs=0.2)
    assert dominant_hz(part) == pytest.approx(440, abs=3)
    assert np.sqrt(np.mean(part.astype(np.float64) ** 2)) == pytest.approx(0.5 / np.sqrt(2),
                                                                          rel=0.15)


async def test_channels_are_split_into_inputs(pulse_daemon, stereo_sink,  # noqa: F811
                                              tmp_path):
    wav = write_wav(tmp_path / "split.wav", [tone(440, 1.2), tone(1000, 1.2)])
    source = MicrophoneSource("pulse", {"floor": 0, "booth": 1})
    async with Capture(source) as cap:
        await cap.wait_for(lambda: cap.statuses("listening"), 15, "audio to flow")
        await play(pulse_daemon, wav)
        await cap.wait_for(lambda: len(cap.loud_levels(input_id="booth")) >= 3, 10,
                           "the tones' levels")
        await cap.wait_for(lambda: cap.quiet_again("floor") and cap.quiet_again("booth"), 10,
                           "silence after the tones")
    assert cap.statuses("listening")[0].detail["channel_map"] == {"floor": 0, "booth": 1}
    for input_id, freq in (("floor", 440), ("booth", 1000)):
        chunks = cap.chunks(input_id)
        assert_continuous(chunks)
        assert cap.loud_levels(input_id=input_id)
        part = loud_part(chunks)
        assert len(part) / 16000 == pytest.approx(1.2, abs=0.2)
        assert dominant_hz(part) == pytest.approx(freq, abs=3)


async def test_device_loss_is_reported_and_recovered(pulse_daemon, stereo_sink,  # noqa: F811
                                                     tmp_path):
    wav = write_wav(tmp_path / "after.wav", [tone(440, 1.0)])
    source = MicrophoneSource("pulse", {"floor": -1})
    async with Capture(source) as cap:
        await cap.wait_for(lambda: cap.statuses("listening"), 15, "audio to flow")
        await cap.wait_for(lambda: len(cap.chunks("floor")) >= 3, 5, "some audio")
        await asyncio.to_thread(pulse_daemon.unload_sink, SINK)   # the interface is unplugged
        await cap.wait_for(lambda: cap.statuses("input_lost"), 10, "input_lost")
        assert f"{SINK}.monitor" not in await asyncio.to_thread(pulse_daemon.sources)
        await asyncio.to_thread(pulse_daemon.load_null_sink, SINK, 2, 48000)  # and back in
        await cap.wait_for(lambda: cap.statuses("input_restored"), 20, "input_restored")
        restored_at = cap.index("input_restored")
        await play(pulse_daemon, wav)
        await cap.wait_for(lambda: len(cap.loud_levels(restored_at)) >= 2, 10,
                           "the tone after restoration")
    states = [e.state for e in cap.events if isinstance(e, Status) and e.state != "levels"]
    assert states == ["listening", "input_lost", "input_restored", "stopped"]
    lost = cap.statuses("input_lost")[0]
    assert lost.detail["device"] == "pulse" and lost.detail["error"]
    gap_s = cap.statuses("input_restored")[0].detail["gap_s"]
    assert gap_s > 0.3
    before = [e for e in cap.events[:restored_at] if isinstance(e, AudioChunk)]
    after = cap.chunks("floor", restored_at)
    assert_continuous(after)
    # Stream time skipped the gap, so it stays in step with the wall clock.
    assert after[0].start_s == pytest.approx(before[-1].end_s + gap_s, abs=0.05)
    assert dominant_hz(loud_part(after)) == pytest.approx(440, abs=3)
