"""Unit tests of the level maths, the clipping and dead-channel detectors, and the
statuses a source's meters give (pure: numpy blocks in, figures and statuses out)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from captioner.events import Status
from captioner.inputs.levels import (
    FLOOR_DBFS,
    ClipDetector,
    InputMeters,
    LevelMeter,
    SilenceDetector,
    block_levels,
    to_dbfs,
)

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


# -- statuses ----------------------------------------------------------------------------------


def test_meters_give_levels_per_input_on_the_publishing_grid():
    meters = InputMeters(RATE, publish_every_s=0.25)
    out = []
    for i, block in enumerate(blocks(sine(440, 0.5, 1.0))):
        out += [(i, s) for s in meters.add("floor", block, 1_000 + i, overflows=2, dropped=1)]
        out += [(i, s) for s in meters.add("booth", block * 1e-4, 2_000 + i)]
    # 0.1 s blocks cross the 0.25 s grid at 0.3, 0.5, 0.8 and 1.0 s.
    floor = [(i, s) for i, s in out if s.input_id == "floor"]
    assert [i for i, _ in floor] == [2, 4, 7, 9]
    first = floor[0][1]
    assert first == Status("levels", 1_002, input_id="floor", detail={
        "rms_dbfs": first.detail["rms_dbfs"], "peak_dbfs": first.detail["peak_dbfs"],
        "clipping": False, "silent": False, "overflows": 2, "dropped": 1})
    assert list(first.detail) == ["rms_dbfs", "peak_dbfs", "clipping", "silent",
                                  "overflows", "dropped"]
    assert first.detail["rms_dbfs"] == pytest.approx(-9.0, abs=0.1)
    booth = [s for _, s in out if s.input_id == "booth"]
    assert [s.emitted_ns for s in booth] == [2_002, 2_004, 2_007, 2_009]
    assert all(s.detail["silent"] and s.detail["overflows"] == 0 for s in booth)


def test_meters_turn_warnings_into_statuses_after_the_levels():
    meters = InputMeters(RATE, publish_every_s=0.25)
    loud = np.clip(sine(440, 1.5, 0.3), -1, 1)
    states = [[(s.state, s.detail.get("kind")) for s in meters.add("floor", b, 7)]
              for b in blocks(loud)]
    # The third clipped block makes an episode, and completes the first period.
    assert states == [[], [], [("levels", None), ("warning", "clipping")]]
    assert meters.add("floor", np.zeros(0, np.float32), 8) == []   # an empty block: nothing
    cleared = [s for b in blocks(sine(440, 0.1, 2.5)) for s in meters.add("floor", b, 9)
               if s.state != "levels"]
    assert cleared == [Status("warning_cleared", 9, input_id="floor",
                              detail={"kind": "clipping"})]
