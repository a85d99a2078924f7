"""A room without a model: the fixed sink order, commands and their acknowledgements,
figures, and a run from start to stop."""

from __future__ import annotations

import time

from captioner.bus.local import LocalBus
from captioner.bus.messages import Command, Published
from captioner.events import Caption, Status
from captioner.room.room import Room
from tests.operator_fakes import FakeEngine, FakeRecord, FakeSource, caption, make_room


def states(events) -> list[str]:
    return [e.state for e in events if isinstance(e, Status)]


def follow(room: Room, **kwargs) -> list:
    got: list = []
    room.bus.subscribe(lambda published: got.append(published.event), **kwargs)
    return got


async def test_a_command_is_journaled_gated_and_acknowledged_with_fresh_figures():
    record = FakeRecord()
    room = make_room(record=record, holding_message="Back soon")
    screens = follow(room, since_seq=0)
    ack = await room.bus.command(Command("pause", {"default": True}, id=1))
    assert ack.ok and (ack.id, ack.cmd, ack.changed) == (1, "pause", True)
    assert states(record.journal.events) == ["paused"]
    assert [(s.state, s.detail.get("message")) for s in screens] == [("paused", "Back soon")]
    assert room.bus.figures.paused and room.controls.paused

    room.pipeline.publish(caption("Off the record.", id="x"))
    assert [e.text for e in record.journal.events if isinstance(e, Caption)] == [
        "Off the record."]
    assert not [e for e in screens if isinstance(e, Caption)]
    again = await room.bus.command(Command("resume", id=2))
    assert again.changed and room.bus.figures.held == 1 and not room.bus.figures.paused


async def test_a_refused_command_changes_nothing_and_says_why():
    record = FakeRecord()
    room = make_room(record=record)
    record.fail_new_session = True
    ack = await room.bus.command(Command("new_session", {"title": "Panel"}, id="n"))
    assert not ack.ok and ack.error == "could not start a new session: sessions: disk full"
    assert states(record.journal.events) == []


async def test_a_new_session_is_announced_and_clears_the_screens():
    record = FakeRecord()
    room = make_room(record=record)
    screens = follow(room)
    ack = await room.bus.command(Command("new_session", {"title": "Panel"}, id="n"))
    assert ack.ok and ack.session["name"] == "session-1"
    assert record.new_sessions == ["Panel"]
    assert states(screens) == ["session_started", "clear"]


async def test_the_figures_carry_the_session_s_title_for_the_venue_index():
    record = FakeRecord(title="Water & climate")
    room = make_room(record=record)
    assert room.bus.figures.title == "Water & climate"  # known before the room runs
    await room.bus.command(Command("new_session", {"title": "Afternoon panel"}))
    assert room.bus.figures.title == "Afternoon panel"
    await room.bus.command(Command("new_session", {"title": ""}))
    assert room.bus.figures.title == "Water & climate"  # untitled: the run's title
    unrecorded = Room(FakeEngine(), FakeSource(), LocalBus(), title="Hall B")
    assert unrecorded.bus.figures.title == "Hall B"
    assert Room(FakeEngine(), FakeSource(), LocalBus()).bus.figures.title == ""


async def test_without_a_record_there_is_no_new_session():
    room = Room(FakeEngine(), FakeSource(), LocalBus())
    ack = await room.bus.command(Command("new_session", {"title": ""}))
    assert ack.error == "recording is off: there is no session to start"
    assert room.bus.figures.recording is None and not room.bus.figures.new_session


def test_figures_describe_each_input_and_the_engine():
    room = make_room(speed=2.0)
    room.pipeline.workers["booth"].passes = 7
    room.controls.disabled_inputs.add("floor")
    figures = room.figures()
    assert [(i.id, i.source, i.enabled) for i in figures.inputs] == [
        ("floor", "floor", False), ("booth", "interpretation", True)]
    assert figures.input("booth").passes == 7 and figures.passes == 7
    assert (figures.placement.device, figures.placement.compute_type) == ("cpu", "int8")
    assert figures.languages == ("ru", "en") and figures.speed == 2.0
    assert figures.recording.name == "session-0" and figures.new_session


def test_the_room_is_known_on_its_bus_before_it_runs():
    room = make_room()
    assert room.bus.figures is not None
    assert [i.id for i in room.bus.figures.inputs] == ["floor", "booth"]


async def test_a_run_ends_with_stopped_on_the_bus_and_in_the_journal():
    record = FakeRecord(title="Water and climate")
    room = Room(FakeEngine(), FakeSource(inputs=()), LocalBus(), record=record,
                announcements=[Status("translation_unavailable", time.time_ns())])
    seen: list[Published] = []
    room.bus.subscribe(seen.append)
    room.pipeline.publish(Status("listening", time.time_ns()))
    stats = await room.run()
    assert stats.committed == 0
    assert states(p.event for p in seen) == ["listening", "translation_unavailable",
                                              "stopped"]
    assert states(record.journal.events)[-1] == "stopped"
    # The session's title, for an edge that finds the room only after it stopped.
    assert seen[-1].event.detail["title"] == "Water and climate"
