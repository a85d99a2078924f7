"""Helpers for tests that run an audio source: collect its events, wait on them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
import pytest

from captioner.events import AudioChunk, Status


class SourceEvents:
    """Runs a source in a task, keeps its events, and waits for conditions on them."""

    def __init__(self, source) -> None:
        self.source = source
        self.events: list[AudioChunk | Status] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def __aenter__(self):
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc) -> None:
        self.source.stop()
        await asyncio.wait_for(self._task, 10)

    async def _run(self) -> None:
        try:
            async for event in self.source.events():
                self.events.append(event)
                self._changed.set()
        finally:
            self._changed.set()

    def describe(self) -> str:
        """What the source said so far, for failure messages."""
        return str([e.state for e in self.events if isinstance(e, Status)
                    and e.state != "levels"][-12:])

    async def wait_for(self, condition: Callable[[], object], limit_s: float, what: str):
        """Waits until ``condition()`` is truthy, re-checking on each new event."""
        try:
            async with asyncio.timeout(limit_s):
                while not (result := condition()):
                    if self._task.done():
                        self._task.result()  # raises what ended the source
                        if not (result := condition()):
                            pytest.fail(f"the source ended while waiting for {what}")
                        break
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pytest.fail(f"no {what} within {limit_s:g} s; statuses so far: {self.describe()}")
        return result


def dominant_hz(samples: np.ndarray, rate: int = 16000) -> float:
    """The strongest frequency in ``samples``."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])
