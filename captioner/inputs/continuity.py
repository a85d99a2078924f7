"""Continuity of a live input: lost, restored, and the gap it leaves in stream time.

A microphone whose cable is pulled and a network stream that drops tell the same story:
audio flows (``listening``), stops (``input_lost``, said once however many reconnection
attempts fail), and flows again from a freshly opened stream (``input_restored``, with
the time it was away). Stream time then jumps by that gap, so it stays in step with the
wall clock and captions after the gap line up with what was said.

:class:`Continuity` holds that story for one source. It is pure: the source tells it
what happened, with the times (monotonic seconds for arrivals, wall-clock nanoseconds
for the statuses' stamps), and it answers with the statuses to yield and where the new
stream's audio starts. :class:`Backoff` paces the reconnection attempts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from captioner.events import Status

BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 5.0)   # then 5 s for ever


@dataclass(frozen=True, slots=True)
class Start:
    """What the first block of a freshly opened stream means.

    Attributes:
        start_s: Stream time of the new stream's first sample: where the audio
            delivered so far ends, plus the gap when the input was lost.
        gap_s: How long the input was away (unrounded); None when it was not lost.
        statuses: ``input_restored`` (after a loss) then ``listening`` (the first
            time audio flows), in the order to yield them; often none.
    """

    start_s: float
    gap_s: float | None
    statuses: tuple[Status, ...]


class Continuity:
    """Whether one source's audio flows, is lost or is back, and where stream time goes on.

    Call :meth:`opened` when a stream (device, connection) has been opened, then
    :meth:`start` with its first block and :meth:`delivered` after every block;
    :meth:`lose` when the stream fails. The gap of a restoration runs from the arrival
    of the last block before the loss to the moment the new stream's audio began; it is
    0 when nothing had been delivered before the loss.

    ``who`` arguments name the source in the statuses' detail (``{"device": name}``,
    ``{"url": url}``); they come first in the detail, before ``gap_s`` or ``error``.
    """

    def __init__(self) -> None:
        self.listening = False   # audio has flowed at least once
        self.lost = False        # input_lost was said and no audio has flowed since
        self.starting = False    # a stream was opened and its first block is awaited
        self._end_s = 0.0                       # stream time where delivered audio ends
        self._last_arrival_s: float | None = None  # of the latest block delivered
        self._lost_after_s: float | None = None    # ...of the last one before the loss

    def opened(self) -> None:
        """A stream was opened: its first block will start a new stretch of audio."""
        self.starting = True

    def start(self, began_s: float, at_ns: int, who: Mapping[str, Any],
              listening: Mapping[str, Any]) -> Start:
        """Takes the first block of the stream opened last.

        Args:
            began_s: Monotonic time at which that stream's audio began (its first
                block's arrival less its length, or when a live sender was reached).
            at_ns: Wall-clock stamp for the statuses.
            who: The source's name for the statuses' detail.
            listening: Detail of the ``listening`` status, used the first time only.

        Returns:
            Where the stream starts, the gap, and the statuses to yield.
        """
        self.starting = False
        statuses = []
        gap_s = None
        if self.lost:
            gap_s = 0.0
            if self.listening and self._lost_after_s is not None:
                gap_s = max(0.0, began_s - self._lost_after_s)
            self.lost = False
            statuses.append(Status("input_restored", at_ns,
                                   detail={**who, "gap_s": round(gap_s, 3)}))
        if not self.listening:
            self.listening = True
            statuses.append(Status("listening", at_ns, detail=dict(listening)))
        return Start(self._end_s + (gap_s or 0.0), gap_s, tuple(statuses))

    def delivered(self, arrived_s: float, end_s: float) -> None:
        """A block was passed on.

        Args:
            arrived_s: Monotonic time at which it arrived.
            end_s: Stream time where the audio delivered so far now ends.
        """
        self._last_arrival_s = arrived_s
        self._end_s = end_s

    def lose(self, error: str, at_ns: int, who: Mapping[str, Any]) -> Status | None:
        """The current stream failed (or a reconnection attempt did).

        Returns:
            ``input_lost`` the first time; None while the input is still lost, so a
            run of failed attempts is reported once.
        """
        self.starting = False
        if self.lost:
            return None
        self.lost = True
        self._lost_after_s = self._last_arrival_s
        return Status("input_lost", at_ns, detail={**who, "error": error})


class Backoff:
    """Waits between reconnection attempts: each of ``delays_s`` in turn, then the last.

    Args:
        delays_s: The waits in seconds; :data:`BACKOFF_S` when empty.
    """

    def __init__(self, delays_s: Sequence[float] = BACKOFF_S) -> None:
        self.delays_s = tuple(delays_s) or BACKOFF_S
        self.attempt = 0

    def next_s(self) -> float:
        """The wait before the next attempt (and counts the attempt)."""
        delay = self.delays_s[min(self.attempt, len(self.delays_s) - 1)]
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Starts again from the first wait (audio flowed, or a fresh loss)."""
        self.attempt = 0
