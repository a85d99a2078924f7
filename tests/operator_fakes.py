"""A session for the operator tests: a real LivePipeline that is published into, not run.

No model is loaded: the pipeline's ``engine`` is a stand-in with the attributes the
console reads, and its workers are small fakes with the counters of an InputWorker.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

import numpy as np

from captioner.delivery.broadcast import Broadcaster
from captioner.delivery.server import CaptionServer
from captioner.events import AudioChunk, Caption, Status
from captioner.room.controls import Controls
from captioner.room.pipeline import LivePipeline


class FakeSource:
    """An audio source that yields nothing (the tests publish events themselves)."""

    def __init__(self, inputs=("floor", "booth"), speed: float = 1.0) -> None:
        self.inputs = tuple(inputs)
        self.speed = speed

    async def events(self):
        return
        yield

    def stop(self) -> None:
        pass


@dataclass
class FakePlacement:
    device: str = "cpu"
    compute_type: str = "int8"
    threads: int = 4


@dataclass
class FakeEngine:
    languages: tuple[str, ...] = ("ru", "en")
    placement: FakePlacement = field(default_factory=FakePlacement)


@dataclass
class FakeWorker:
    """The counters of an InputWorker."""

    queue: collections.deque = field(default_factory=collections.deque)
    passes: int = 0
    asr_seconds: float = 0.0
    dropped_chunks: int = 0


def make_pipeline(broadcaster: Broadcaster, *, sinks=None, speed: float = 1.0) -> LivePipeline:
    """A LivePipeline over a fake source whose sinks end in ``broadcaster``."""
    pipeline = LivePipeline(FakeEngine(), FakeSource(speed=speed),
                            [*(sinks or []), broadcaster.publish],
                            sources_label={"floor": "floor", "booth": "interpretation"},
                            controls=Controls())
    pipeline.workers = {"floor": FakeWorker(), "booth": FakeWorker()}
    return pipeline


def chunk(input_id: str = "floor", start_s: float = 0.0, n: int = 1600) -> AudioChunk:
    return AudioChunk(input_id, np.full(n, 0.1, dtype=np.float32), start_s, time.time_ns())


def caption(text: str, *, lang: str = "en", final: bool = True, id: str = "u1",
            end_s: float = 1.0, emitted_ns: int | None = None, source: str = "floor",
            input_id: str = "floor", revision: int = 0) -> Caption:
    return Caption(id=id, final=final, lang=lang, text=text, start_s=max(0.0, end_s - 1.0),
                   end_s=end_s, emitted_ns=time.time_ns() if emitted_ns is None else emitted_ns,
                   source=source, input_id=input_id, revision=revision)


def levels(input_id: str, rms: float, peak: float, **extra) -> Status:
    return Status("levels", time.time_ns(), input_id=input_id, detail={
        "rms_dbfs": rms, "peak_dbfs": peak, "clipping": peak >= -0.1, "silent": rms < -70,
        "overflows": extra.get("overflows", 0), "dropped": extra.get("dropped", 0)})


async def start_server(broadcaster: Broadcaster) -> CaptionServer:
    server = CaptionServer(broadcaster, host="127.0.0.1", port=0)
    await server.start()
    return server
