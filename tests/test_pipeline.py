"""The composition root of a live session, with fakes where the models would be."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from captioner import live
from captioner.errors import ModelError
from captioner.events import AudioChunk, Status
from captioner.pipeline import LivePipeline
from tests.operator_fakes import FakeEngine


class QuietVad:
    """Silero's interface, hearing silence everywhere; records where it was built."""

    built_on: list[threading.Thread]

    def __init__(self) -> None:
        QuietVad.built_on.append(threading.current_thread())

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        return np.zeros(len(samples) // 512, dtype=np.float32)


class ListSource:
    """Yields the events given; ``inputs`` are the ones it declares up front."""

    def __init__(self, inputs: tuple[str, ...], events: list) -> None:
        self.inputs = inputs
        self._events = events

    async def events(self):
        for event in self._events:
            yield event

    def stop(self) -> None:
        pass


def chunk(input_id: str, start_s: float) -> AudioChunk:
    return AudioChunk(input_id, np.zeros(1600, dtype=np.float32), start_s, time.time_ns())


async def test_vad_models_are_built_off_the_event_loop(monkeypatch):
    # Loading Silero (an ONNX session) on the loop stalled every caption and socket
    # for its duration, at start-up and when an input first appeared mid-stream.
    QuietVad.built_on = []
    monkeypatch.setattr(live, "SileroVad", QuietVad)
    events = [Status("listening", time.time_ns())]
    events += [chunk("floor", i / 10) for i in range(10)]
    events += [chunk("booth", i / 10) for i in range(3)]  # an input first seen now
    out: list = []
    pipeline = LivePipeline(FakeEngine(), ListSource(("floor",), events), [out.append])
    await pipeline.run()
    assert out[-1].state == "stopped"
    assert QuietVad.built_on, "the floor input needs a VAD"
    loop_thread = threading.current_thread()
    assert all(t is not loop_thread and t.name.startswith("vad") for t in QuietVad.built_on), \
        [t.name for t in QuietVad.built_on]


async def test_a_vad_that_cannot_load_stops_the_pipeline_before_any_audio(monkeypatch):
    class MissingVad:
        def __init__(self) -> None:
            raise ModelError("silero_vad_v6.onnx: no such file")

    class WatchedSource(ListSource):
        started = False

        async def events(self):
            WatchedSource.started = True
            async for event in super().events():
                yield event

    monkeypatch.setattr(live, "SileroVad", MissingVad)
    pipeline = LivePipeline(FakeEngine(), WatchedSource(("floor",), [chunk("floor", 0.0)]), [])
    with pytest.raises(ModelError, match=r"^silero_vad_v6\.onnx: no such file$"):
        await pipeline.run()
    assert not WatchedSource.started
