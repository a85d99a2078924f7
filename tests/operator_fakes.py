"""A room for the operator tests: a real Room and LivePipeline, published into, not run.

No model is loaded: the room's ``engine`` is a stand-in with the attributes the room's
figures read, its workers are small fakes with the counters of an InputWorker, and its
record is a stand-in that keeps the journal in a list.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field

import numpy as np

from captioner.bus.local import LocalBus
from captioner.bus.messages import RecordFigures
from captioner.delivery.broadcast import Broadcaster
from captioner.delivery.server import CaptionServer
from captioner.errors import CaptionerError
from captioner.events import AudioChunk, Caption, Status
from captioner.programme import Programme
from captioner.room.controls import Controls
from captioner.room.pipeline import LivePipeline
from captioner.room.room import Room


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


@dataclass
class FakeJournal:
    """The journal's part that a room reads: what was appended, the last seq."""

    events: list = field(default_factory=list)
    last_seq: int | None = None
    resumed_from: object = None


@dataclass
class FakeSessionRecord:
    """The current record's ``record``: its time offset and its figures."""

    name: str = "session-0"
    offset_s: float = 0.0

    def figures(self) -> RecordFigures:
        return RecordFigures(self.name, "/s", True, None)


class FakeRecord:
    """Stands in for :class:`captioner.record.current.CurrentRecord`: the journal is a
    list, and a new session is only counted (or fails, when told to)."""

    def __init__(self, name: str = "session-0", offset_s: float = 0.0,
                 title: str = "") -> None:
        self.journal = FakeJournal()
        self.record = FakeSessionRecord(name, offset_s)
        self.title = self.run_title = title
        self.new_sessions: list[str] = []
        self.fail_new_session = False

    def bind(self, announce) -> None:
        self.announce = announce

    def journal_sink(self):
        return self.journal.events.append

    def recorder_tap(self):
        return None

    async def sync_periodically(self) -> None:
        await asyncio.Event().wait()  # nothing to sync; cancelled when the room stops

    async def new_session(self, title: str) -> dict:
        if self.fail_new_session:
            raise CaptionerError("sessions: disk full")
        self.new_sessions.append(title)
        self.title = title or self.run_title  # as a new record without one takes the run's
        return {"name": f"session-{len(self.new_sessions)}", "path": "/x", "extra": [1]}


def make_room(*, speed: float = 1.0, record: FakeRecord | None = None, translation=None,
              holding_message: str = "", programme: Programme = Programme()) -> Room:
    """A Room over a fake source and engine, its bus local, its workers fakes."""
    room = Room(FakeEngine(), FakeSource(speed=speed), LocalBus("test"),
                labels={"floor": "floor", "booth": "interpretation"},
                controls=Controls(item=0 if programme else None),
                record=record if record is not None else FakeRecord(),
                translation=translation, holding_message=holding_message,
                programme=programme)
    room.pipeline.workers = {"floor": FakeWorker(), "booth": FakeWorker()}
    room.publish_figures()
    return room


def serve_bus(bus) -> Broadcaster:
    """A broadcaster that follows the bus from its start, as the serving side does."""
    broadcaster = Broadcaster()
    bus.subscribe(lambda published: broadcaster.publish(published.event), since_seq=0)
    return broadcaster


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
