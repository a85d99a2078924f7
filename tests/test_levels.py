"""Unit tests of the level maths, the clipping and dead-channel detectors, and the
statuses a source's meters give (pure: numpy blocks in, figures and statuses out)."""

from __future__ import annotations

import numpy as np
import pytest

from captioner.events import Status
from captioner.inputs.levels import InputMeters

RATE = 48000


def sine(freq: float, amplitude: float, seconds: float, rate: int = RATE,
         start: int = 0) -> np.ndarray:
    n = np.arange(start, start + round(seconds * rate))
    return (amplitude * np.sin(2 * np.pi * freq * n / rate)).astype(np.float32)


def blocks(signal: np.ndarray, block_s: float = 0.1, rate: int = RATE):
    size = round(block_s * rate)
    for i in range(0, len(signal), size):
        yield signal[i:i + size]


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
