"""The composition root of a live session, with fakes where the models would be: where
models are built, and the order of delivery to the sinks (failing sinks included)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from captioner.errors import ModelError
from captioner.events import AudioChunk, Caption, Status
from captioner.programme import ProgrammeSpeaker
from captioner.recognition import live
from captioner.record.current import journal_sink
from captioner.room.controls import Controls
from captioner.room.pipeline import LivePipeline
from tests.operator_fakes import FakeEngine, FakeSource, caption


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


async def test_an_input_first_seen_mid_stream_is_transcribed(monkeypatch):
    # Its worker was made but never run: the booth's audio filled a queue nobody read.
    QuietVad.built_on = []
    monkeypatch.setattr(live, "SileroVad", QuietVad)
    events = [Status("listening", time.time_ns())]
    events += [chunk("floor", i / 10) for i in range(10)]
    events += [chunk("booth", i / 10) for i in range(3)]
    pipeline = LivePipeline(FakeEngine(), ListSource(("floor",), events), [])
    await pipeline.run()
    booth = pipeline.workers["booth"]
    assert not booth.queue and booth.audio_end_s == pytest.approx(0.3)
    assert len(QuietVad.built_on) == 2  # one VAD per input, both in the VAD executor


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


class FailingJournal:
    """A journal on a full disk: every append fails, as Journal.append reports it."""

    def __init__(self) -> None:
        self.lines: list[Caption | Status] = []
        self.error = "journal /s/journal.jsonl: disk full (No space left on device)"

    def append(self, event: Caption | Status) -> bool:
        self.lines.append(event)
        return False


def pipeline_with(*sinks) -> LivePipeline:
    return LivePipeline(FakeEngine(), FakeSource(), list(sinks))


def listening() -> Status:
    return Status("listening", time.time_ns())


def names(events) -> list[str]:
    return [e.state if isinstance(e, Status) else f"caption {e.seq}" for e in events]


def test_a_journal_failure_reaches_the_viewers_after_the_caption_that_caused_it():
    journal, viewers = FailingJournal(), []
    pipeline = pipeline_with(journal_sink(lambda: journal, lambda s: pipeline.announce(s)),
                             viewers.append)
    pipeline.publish(listening())
    pipeline.publish(caption("Water resources are shrinking."))
    # The caption still reaches the screens, first; then the operator learns of the disk.
    assert names(viewers) == ["listening", "caption 1", "recording_error"]
    assert viewers[-1].detail["component"] == "journal"
    assert "disk full" in viewers[-1].detail["error"]
    # The journal is offered the status too, after the caption (it stays in its backlog).
    assert names(journal.lines) == ["caption 1", "recording_error"]


def test_a_raising_journal_sink_does_not_keep_the_caption_from_the_viewers():
    viewers = []

    def broken(event) -> None:
        raise ValueError("journal is closed")

    pipeline = pipeline_with(broken, viewers.append)
    pipeline.publish(listening())
    pipeline.publish(caption("still shown"))
    assert names(viewers) == ["listening", "caption 1"]


def test_events_published_from_inside_a_delivery_follow_it_in_every_sink():
    first, second = [], []

    def reacting(event) -> None:
        first.append(event)
        if isinstance(event, Caption) and event.text == "one":
            pipeline.publish(Status("note", time.time_ns()))
            pipeline.publish(caption("two", id="u2"))

    pipeline = pipeline_with(reacting, second.append)
    pipeline.publish(caption("one"))
    pipeline.publish(caption("three", id="u3"))
    expected = ["caption 1", "note", "caption 2", "caption 3"]
    assert names(first) == expected
    assert names(second) == expected


def test_start_up_statuses_wait_for_listening_then_follow_it_in_order():
    seen = []
    pipeline = pipeline_with(seen.append)
    pipeline.announce(Status("translation_unavailable", time.time_ns()))
    pipeline.announce(Status("session_resumed", time.time_ns()))
    assert seen == []
    pipeline.publish(listening())
    pipeline.publish(caption("first"))
    assert names(seen) == ["listening", "translation_unavailable", "session_resumed",
                           "caption 1"]


def test_the_speaker_set_mid_utterance_takes_effect_from_the_next_utterance():
    controls = Controls()
    out: list = []
    pipeline = LivePipeline(FakeEngine(), FakeSource(), [out.append], controls=controls,
                            sources_label={"floor": "floor", "booth": "interpretation"})
    moderator = ProgrammeSpeaker("Dr. Aliya Seitkali", "Moderator", "ru")
    minister = ProgrammeSpeaker("H.E. Bakhtiyor Karimov", "Minister", "ru")
    pipeline.on_worker_event(caption("Добрый", lang="ru", final=False, id="floor-1"))
    controls.speaker = moderator  # while floor-1 is being said
    pipeline.on_worker_event(caption("Добрый день", lang="ru", id="floor-1"))
    pipeline.on_worker_event(caption("Коллеги", lang="ru", final=False, id="floor-2",
                                     end_s=3.0))
    controls.speaker = minister
    pipeline.on_worker_event(caption("Коллеги, спасибо", lang="ru", id="floor-2", end_s=3.0))
    pipeline.on_worker_event(caption("Вода", lang="ru", id="floor-3", end_s=5.0))
    # The booth interprets floor-2 while floor-3 has begun: floor-2's speaker.
    pipeline.on_worker_event(caption("Colleagues, thank you", id="booth-1", end_s=3.5,
                                     source="interpretation", input_id="booth"))
    pipeline.on_worker_event(caption("Water", id="booth-2", end_s=5.5,
                                     source="interpretation", input_id="booth"))
    got = [(c.id, c.final, c.speaker) for c in out if isinstance(c, Caption) and c.text]
    assert got == [
        ("floor-1", False, None), ("floor-1", True, None),
        ("floor-2", False, moderator.speaker), ("floor-2", True, moderator.speaker),
        ("floor-3", True, minister.speaker),
        ("booth-1", True, moderator.speaker), ("booth-2", True, minister.speaker)]
    # The speaker's language is the floor worker's hint; the booth gets none.
    floor, booth = pipeline._worker("floor"), pipeline._worker("booth")
    assert floor.language_hint() == "ru" and booth.language_hint() is None
