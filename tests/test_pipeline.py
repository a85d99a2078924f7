"""LivePipeline's delivery to its sinks, without a model: order, seq, failing sinks."""

from __future__ import annotations

import time

from captioner.events import Caption, Status
from captioner.pipeline import LivePipeline
from captioner.runner import _journal_sink
from tests.operator_fakes import FakeEngine, FakeSource, caption


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
    pipeline = pipeline_with()
    pipeline.sinks[:] = [_journal_sink(lambda: journal, pipeline.announce), viewers.append]
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
