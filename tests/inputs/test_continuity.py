"""Unit tests of the continuity state machine (lost, restored, gap) and the backoff,
driven by scripted events with made-up times: no device, no network, no clock."""

from __future__ import annotations

import pytest

from captioner.events import Status
from captioner.inputs.continuity import BACKOFF_S, Backoff, Continuity, Start

MIC = {"device": "UMC404HD"}
LISTENING = {"source": "microphone", "device": "UMC404HD", "inputs": ["floor"]}


def deliver(machine: Continuity, first_arrival_s: float, blocks: int, end_s: float,
            block_s: float = 0.1) -> float:
    """Delivers ``blocks`` blocks arriving every ``block_s``; returns the stream end."""
    for i in range(blocks):
        end_s = round(end_s + block_s, 9)
        machine.delivered(first_arrival_s + i * block_s, end_s)
    return end_s


def test_first_audio_says_listening_once_and_starts_at_zero():
    machine = Continuity()
    assert not machine.starting
    machine.opened()
    assert machine.starting
    start = machine.start(100.0, 1_000, MIC, LISTENING)
    assert start == Start(0.0, None, (Status("listening", 1_000, detail=LISTENING),))
    assert not machine.starting and machine.listening and not machine.lost
    deliver(machine, 100.1, 10, 0.0)
    # A stream opened again without a loss goes on where the audio ended, silently.
    machine.opened()
    assert machine.start(200.0, 2_000, MIC, LISTENING) == Start(1.0, None, ())


def test_loss_is_said_once_then_restored_with_the_gap_and_stream_time_jumps_by_it():
    machine = Continuity()
    machine.opened()
    machine.start(10.0, 1, MIC, LISTENING)
    end_s = deliver(machine, 10.1, 20, 0.0)          # last block arrives at 12.0
    assert end_s == 2.0
    lost = machine.lose("no audio from the device for 1.6 s", 5_000, MIC)
    assert lost == Status("input_lost", 5_000,
                          detail={"device": "UMC404HD",
                                  "error": "no audio from the device for 1.6 s"})
    assert list(lost.detail) == ["device", "error"]
    assert machine.lost and not machine.starting
    # Reopening attempts that fail (or open a stream that never delivers) are not news.
    assert machine.lose("not connected", 6_000, MIC) is None
    machine.opened()
    assert machine.lose("no audio within 5 s of opening the device", 7_000, MIC) is None
    machine.opened()
    start = machine.start(14.5004, 8_000, {"device": "UMC404HD (hw:4,0)"}, LISTENING)
    assert start.gap_s == pytest.approx(2.5004)
    assert start.start_s == pytest.approx(4.5004)
    assert start.statuses == (Status("input_restored", 8_000,
                                     detail={"device": "UMC404HD (hw:4,0)", "gap_s": 2.5}),)
    assert list(start.statuses[0].detail) == ["device", "gap_s"]
    assert not machine.lost and machine.listening


def test_the_gap_runs_from_the_last_block_before_the_loss():
    machine = Continuity()
    machine.opened()
    machine.start(0.0, 1, MIC, LISTENING)
    deliver(machine, 0.1, 5, 0.0)                   # last arrival 0.5, stream end 0.5
    machine.lose("the stream ended", 2, {"url": "http://x"})
    machine.opened()
    first = machine.start(3.25, 3, {"url": "http://x"}, LISTENING)
    assert first.gap_s == pytest.approx(2.75) and first.start_s == pytest.approx(3.25)
    assert first.statuses[0].detail == {"url": "http://x", "gap_s": 2.75}
    end_s = deliver(machine, 3.35, 3, first.start_s)  # last arrival 3.55, stream end 3.55
    machine.lose("the stream ended", 4, {"url": "http://x"})
    machine.opened()
    second = machine.start(4.0, 5, {"url": "http://x"}, LISTENING)
    assert second.gap_s == pytest.approx(0.45)
    assert second.start_s == pytest.approx(end_s + 0.45)


def test_a_new_stream_that_began_before_the_last_block_has_no_negative_gap():
    machine = Continuity()
    machine.opened()
    machine.start(0.0, 1, MIC, LISTENING)
    deliver(machine, 0.1, 10, 0.0)
    machine.lose("x", 2, MIC)
    machine.opened()
    start = machine.start(0.5, 3, MIC, LISTENING)
    assert start.gap_s == 0.0 and start.start_s == 1.0
    assert start.statuses[0].detail["gap_s"] == 0.0


def test_lost_before_any_audio_is_restored_with_no_gap_then_listening():
    machine = Continuity()
    machine.opened()
    lost = machine.lose("no audio within 5 s of opening the device", 1_000, MIC)
    assert lost is not None and lost.state == "input_lost"
    assert not machine.listening
    machine.opened()
    start = machine.start(30.0, 2_000, MIC, LISTENING)
    assert start == Start(0.0, 0.0, (
        Status("input_restored", 2_000, detail={"device": "UMC404HD", "gap_s": 0.0}),
        Status("listening", 2_000, detail=LISTENING)))


def test_gap_is_rounded_to_the_millisecond_in_the_status_only():
    machine = Continuity()
    machine.opened()
    machine.start(0.0, 1, MIC, LISTENING)
    machine.delivered(1.0, 1.0)
    machine.lose("x", 2, MIC)
    machine.opened()
    start = machine.start(2.23456, 3, MIC, LISTENING)
    assert start.gap_s == pytest.approx(1.23456, abs=1e-12)
    assert start.statuses[0].detail["gap_s"] == 1.235


def test_the_listening_detail_is_a_copy():
    machine = Continuity()
    machine.opened()
    detail = dict(LISTENING)
    (listening,) = machine.start(0.0, 1, MIC, detail).statuses
    detail["device"] = "changed"
    assert listening.detail["device"] == "UMC404HD"


def test_backoff_walks_the_waits_then_repeats_the_last_and_resets():
    backoff = Backoff((0.5, 1.0, 2.0))
    assert [backoff.next_s() for _ in range(5)] == [0.5, 1.0, 2.0, 2.0, 2.0]
    assert backoff.attempt == 5
    backoff.reset()
    assert backoff.next_s() == 0.5
    assert Backoff(()).delays_s == BACKOFF_S
    assert [Backoff().next_s() for _ in range(2)] == [0.5, 0.5]
