"""Input levels, clipping and dead-channel detection: pure logic, no device inside.

Everything here runs on plain numpy blocks and counts time in *audio* seconds (samples
divided by the sample rate), so it behaves the same live, on a file and in a test.
:class:`InputMeters` turns what the meters decide into the ``levels``, ``warning`` and
``warning_cleared`` statuses that every live source emits.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from captioner.events import Status

FLOOR_DBFS = -120.0
"""What digital silence reads as, instead of minus infinity."""


def to_dbfs(amplitude: float) -> float:
    """Converts a linear amplitude (1.0 = full scale) to dBFS, floored at FLOOR_DBFS."""
    if amplitude <= 0.0:
        return FLOOR_DBFS
    return max(FLOOR_DBFS, 20.0 * math.log10(amplitude))


def block_levels(block: np.ndarray) -> tuple[float, float]:
    """RMS and peak level of a block of samples.

    Args:
        block: 1-D float samples in [-1, 1].

    Returns:
        ``(rms_dbfs, peak_dbfs)``; a sine of amplitude A reads ``20·log10(A/√2)`` RMS
        and ``20·log10(A)`` peak. An empty block reads as silence.
    """
    if block.size == 0:
        return FLOOR_DBFS, FLOOR_DBFS
    x = block.astype(np.float64, copy=False)
    rms = math.sqrt(float(np.mean(x * x)))
    peak = float(np.max(np.abs(x)))
    return to_dbfs(rms), to_dbfs(peak)


@dataclass(frozen=True, slots=True)
class Levels:
    """Levels of one input over one publishing period (about 0.25 s).

    Attributes:
        rms_dbfs: RMS level over the period.
        peak_dbfs: Highest sample of the period.
        clipping: The period touched full scale (peak at or above the clip threshold).
        silent: The period's RMS was below the silence threshold.
    """

    rms_dbfs: float
    peak_dbfs: float
    clipping: bool
    silent: bool


@dataclass(frozen=True, slots=True)
class LevelWarning:
    """A warning about an input (``kind`` is ``clipping`` or ``silent_channel``).

    ``active`` is True when the problem starts (or is repeated while it lasts) and
    False when it clears; ``detail`` holds JSON-serialisable figures.
    """

    kind: str
    active: bool
    detail: dict = field(default_factory=dict)


class ClipDetector:
    """Decides when an input is clipping, from the peaks of successive blocks.

    Clipping starts when at least ``min_blocks`` blocks within the last ``window_s``
    seconds peak at or above ``threshold_dbfs`` (one stray full-scale sample is not a
    gain problem), and clears after ``window_s`` without a clipped block. A warning is
    given when clipping starts and then at most every ``repeat_s`` while it lasts; an
    episode starting less than ``repeat_s`` after the last warning is not announced
    again (gain riding makes clipping flap), nor is its end.

    Args:
        threshold_dbfs: Peak level counted as clipped.
        min_blocks: Clipped blocks within the window that make an episode.
        window_s: Length of the window, and how long clipping must be absent to clear.
        repeat_s: Least time between two warnings.
    """

    def __init__(self, threshold_dbfs: float = -0.1, min_blocks: int = 3,
                 window_s: float = 2.0, repeat_s: float = 10.0) -> None:
        self.threshold_dbfs = threshold_dbfs
        self.min_blocks = min_blocks
        self.window_s = window_s
        self.repeat_s = repeat_s
        self.active = False
        self._clipped_at: deque[float] = deque()
        self._last_warning_s: float | None = None
        self._announced = False

    def update(self, now_s: float, peak_dbfs: float) -> LevelWarning | None:
        """Feeds the peak of the block that ends at audio time ``now_s``.

        Returns:
            A warning to publish, or None.
        """
        if peak_dbfs >= self.threshold_dbfs:
            self._clipped_at.append(now_s)
        while self._clipped_at and self._clipped_at[0] <= now_s - self.window_s:
            self._clipped_at.popleft()
        count = len(self._clipped_at)
        if not self.active:
            if count < self.min_blocks:
                return None
            self.active = True
            self._announced = self._may_warn(now_s)
            if not self._announced:
                return None
        elif count == 0:
            self.active = False
            if self._announced:
                self._announced = False
                return LevelWarning("clipping", False)
            return None
        elif not self._may_warn(now_s):
            return None
        self._last_warning_s = now_s
        self._announced = True
        return LevelWarning("clipping", True, {"peak_dbfs": round(peak_dbfs, 1),
                                                "clipped_blocks": count,
                                                "window_s": self.window_s})

    def _may_warn(self, now_s: float) -> bool:
        return self._last_warning_s is None or now_s - self._last_warning_s >= self.repeat_s


class SilenceDetector:
    """Decides when an input is dead: below ``threshold_dbfs`` RMS for over ``after_s``.

    A mixer channel that is muted, unplugged or wired to the wrong input reads as
    digital silence or bare noise floor. The warning is given once the silence has
    lasted ``after_s``, repeated every ``repeat_s`` while it lasts, and cleared (with an
    inactive warning) when a block is loud enough again.

    Args:
        threshold_dbfs: RMS level below which a block counts as silent.
        after_s: How long the silence must last before warning.
        repeat_s: Least time between two warnings of the same silence.
    """

    def __init__(self, threshold_dbfs: float = -70.0, after_s: float = 5.0,
                 repeat_s: float = 60.0) -> None:
        self.threshold_dbfs = threshold_dbfs
        self.after_s = after_s
        self.repeat_s = repeat_s
        self.active = False
        self._silent_since: float | None = None
        self._last_warning_s: float | None = None

    def update(self, start_s: float, end_s: float, rms_dbfs: float) -> LevelWarning | None:
        """Feeds the RMS level of the block spanning audio times ``start_s``..``end_s``.

        Returns:
            A warning to publish, or None.
        """
        if rms_dbfs >= self.threshold_dbfs:
            self._silent_since = None
            if self.active:
                self.active = False
                self._last_warning_s = None
                return LevelWarning("silent_channel", False, {"rms_dbfs": round(rms_dbfs, 1)})
            return None
        if self._silent_since is None:
            self._silent_since = start_s
        silent_s = end_s - self._silent_since
        if silent_s <= self.after_s:
            return None
        if self.active and end_s - self._last_warning_s < self.repeat_s:
            return None
        self.active = True
        self._last_warning_s = end_s
        return LevelWarning("silent_channel", True, {"silent_s": round(silent_s, 1),
                                                      "rms_dbfs": round(rms_dbfs, 1),
                                                      "threshold_dbfs": self.threshold_dbfs})


class LevelMeter:
    """Measures one input block by block and says when to publish.

    Levels are aggregated between the points of a ``publish_every_s`` grid of audio
    time (four times a second by default) and handed out when a block crosses one;
    clipping and silence warnings come out as soon as the detectors decide.

    Args:
        sample_rate: Rate of the blocks fed to :meth:`add`.
        publish_every_s: Length of one publishing period.
        clip: Clipping detector (a default one if None).
        silence: Dead-channel detector (a default one if None).
    """

    def __init__(self, sample_rate: float, publish_every_s: float = 0.25,
                 clip: ClipDetector | None = None,
                 silence: SilenceDetector | None = None) -> None:
        self.sample_rate = float(sample_rate)
        self.publish_every_s = publish_every_s
        self.clip = clip or ClipDetector()
        self.silence = silence or SilenceDetector()
        self._samples = 0          # since the meter started
        self._sum_sq = 0.0         # of the current period
        self._period_n = 0
        self._period_peak = 0.0
        self._next_publish_s = publish_every_s

    @property
    def elapsed_s(self) -> float:
        """Audio time fed so far."""
        return self._samples / self.sample_rate

    def add(self, block: np.ndarray) -> tuple[Levels | None, list[LevelWarning]]:
        """Feeds one block of samples.

        Args:
            block: 1-D float samples in [-1, 1] at ``sample_rate``.

        Returns:
            The levels of the period that this block completes (None while the period
            is still filling), and the warnings the block triggered.
        """
        start_s = self.elapsed_s
        self._samples += block.size
        end_s = self.elapsed_s
        warnings: list[LevelWarning] = []
        if block.size == 0:
            return None, warnings
        x = block.astype(np.float64, copy=False)
        sum_sq = float(np.dot(x, x))
        peak = float(np.max(np.abs(x)))
        rms_dbfs = to_dbfs(math.sqrt(sum_sq / block.size))
        peak_dbfs = to_dbfs(peak)
        for warning in (self.clip.update(end_s, peak_dbfs),
                        self.silence.update(start_s, end_s, rms_dbfs)):
            if warning is not None:
                warnings.append(warning)
        self._sum_sq += sum_sq
        self._period_n += block.size
        self._period_peak = max(self._period_peak, peak)
        if end_s < self._next_publish_s:
            return None, warnings
        # On a fixed grid, so blocks that do not divide the period still average out
        # to the right rate (0.1 s blocks publish at 0.3, 0.5, 0.8, 1.0 s...).
        while self._next_publish_s <= end_s:
            self._next_publish_s += self.publish_every_s
        rms = to_dbfs(math.sqrt(self._sum_sq / self._period_n))
        peak_p = to_dbfs(self._period_peak)
        levels = Levels(rms_dbfs=round(rms, 1), peak_dbfs=round(peak_p, 1),
                        clipping=peak_p >= self.clip.threshold_dbfs,
                        silent=rms < self.silence.threshold_dbfs)
        self._sum_sq, self._period_n, self._period_peak = 0.0, 0, 0.0
        return levels, warnings


class InputMeters:
    """One :class:`LevelMeter` per input of a source, and the statuses they give.

    Args:
        sample_rate: Rate of the blocks fed to :meth:`add`.
        publish_every_s: Period of the ``levels`` status.
    """

    def __init__(self, sample_rate: float, publish_every_s: float = 0.25) -> None:
        self.sample_rate = sample_rate
        self.publish_every_s = publish_every_s
        self._meters: dict[str, LevelMeter] = {}

    def add(self, input_id: str, block: np.ndarray, at_ns: int, overflows: int = 0,
            dropped: int = 0) -> list[Status]:
        """Meters one block of one input (its meter starts with its first block).

        Args:
            input_id: The input the block belongs to.
            block: 1-D float samples in [-1, 1] at ``sample_rate``.
            at_ns: Wall-clock stamp for the statuses.
            overflows: The source's count of device overflows, for ``levels``.
            dropped: The source's count of dropped blocks, for ``levels``.

        Returns:
            ``levels`` when the block completes a period, then a ``warning`` or
            ``warning_cleared`` per warning the block triggered.
        """
        meter = self._meters.get(input_id)
        if meter is None:
            meter = self._meters[input_id] = LevelMeter(self.sample_rate, self.publish_every_s)
        levels, warnings = meter.add(block)
        out = []
        if levels is not None:
            out.append(Status("levels", at_ns, input_id=input_id, detail={
                "rms_dbfs": levels.rms_dbfs, "peak_dbfs": levels.peak_dbfs,
                "clipping": levels.clipping, "silent": levels.silent,
                "overflows": overflows, "dropped": dropped}))
        for warning in warnings:
            out.append(Status("warning" if warning.active else "warning_cleared", at_ns,
                              input_id=input_id,
                              detail={"kind": warning.kind, **warning.detail}))
        return out
