"""What each operator command does to a room's controls, pure."""

from __future__ import annotations

from datetime import time

from captioner.bus.messages import Command
from captioner.delivery.control import parse_command
from captioner.events import Speaker, Status
from captioner.programme import OTHER_SPEAKER, Programme, ProgrammeItem, ProgrammeSpeaker
from captioner.room.controls import Controls, apply, follow_schedule, restored

INPUTS = ("floor", "booth")


def parse(msg, **kwargs) -> Command:
    return parse_command(msg, inputs=INPUTS, **kwargs)


def test_pause_and_resume():
    controls = Controls()
    out = apply(parse({"cmd": "pause"}), controls, holding_message="Back at 14:00")
    assert controls.paused
    assert [(e.state, e.detail.get("message")) for e in out.events] == [
        ("paused", "Back at 14:00")]
    out = apply(parse({"cmd": "pause", "message": ""}), controls, holding_message="Default")
    assert "message" not in out.events[0].detail  # the views' own bilingual text
    out = apply(parse({"cmd": "pause", "message": "Lunch"}), controls, now_ns=42)
    assert out.events[0].detail["message"] == "Lunch" and out.events[0].emitted_ns == 42
    out = apply(parse({"cmd": "resume"}), controls)
    assert not controls.paused and [e.state for e in out.events] == ["resumed"]
    again = apply(parse({"cmd": "resume"}), controls)
    assert again.events == () and not again.changed


def test_language_input_clear_message_and_new_session():
    controls = Controls()
    out = apply(parse({"cmd": "language", "lang": "ru"}), controls)
    assert controls.forced_language == "ru" and out.events[0].detail == {"lang": "ru"}
    out = apply(parse({"cmd": "language", "lang": "auto"}), controls)
    assert controls.forced_language is None and out.changed
    assert not apply(parse({"cmd": "language", "lang": "auto"}), controls).changed

    out = apply(parse({"cmd": "input", "input": "booth", "enabled": False}), controls)
    assert controls.disabled_inputs == {"booth"} and not controls.input_enabled("booth")
    assert (out.events[0].state, out.events[0].input_id) == ("input_disabled", "booth")
    assert not apply(parse({"cmd": "input", "input": "booth", "enabled": False}),
                     controls).changed
    out = apply(parse({"cmd": "input", "input": "booth", "enabled": True}), controls)
    assert controls.disabled_inputs == set() and out.events[0].state == "input_enabled"

    assert [e.state for e in apply(parse({"cmd": "clear"}), controls).events] == ["clear"]
    out = apply(parse({"cmd": "message", "text": "Hi", "duration_s": 5}), controls)
    assert (out.events[0].state, out.events[0].detail) == (
        "message", {"text": "Hi", "duration_s": 5.0})
    out = apply(parse({"cmd": "new_session", "title": "Panel 2"}), controls)
    assert out.events == () and out.new_session == "Panel 2"


PROGRAMME = Programme((
    ProgrammeItem("Opening", "15:00", "15:10",
                  (ProgrammeSpeaker("Dr. Aliya Seitkali", "Moderator", "ru"),)),
    ProgrammeItem("The bank", "15:40", "", (
        ProgrammeSpeaker("Michael Turner", "ADB", "en", input="lectern"),
        ProgrammeSpeaker("Sarah Lindqvist"))),
))


def speaker(controls: Controls, **msg):
    return apply(parse({"cmd": "speaker", **msg}, programme=PROGRAMME), controls,
                 programme=PROGRAMME, now_ns=7)


def test_setting_the_speaker_is_journaled_with_the_item():
    controls = Controls(item=0)
    out = speaker(controls, item=1, speaker=0)
    assert controls.speaker == PROGRAMME.items[1].speakers[0] and controls.item == 1
    assert [(e.state, e.emitted_ns) for e in out.events] == [("programme_item", 7),
                                                             ("speaker_set", 7)]
    assert out.events[0].detail == {"item": 1, "title": "The bank", "auto": False,
                                    "by": "operator"}
    assert out.events[1].detail == {"name": "Michael Turner", "role": "ADB",
                                    "language": "en", "input": "lectern", "item": 1,
                                    "by": "operator"}
    assert out.changed
    again = speaker(controls, item=1, speaker=0)
    assert not again.changed and [e.state for e in again.events] == ["speaker_set"]
    out = speaker(controls, other=True)
    assert controls.speaker == OTHER_SPEAKER and controls.item == 1 and out.changed
    out = speaker(controls, none=True)
    assert controls.speaker is None and out.events[0].detail == {"name": None,
                                                                 "by": "operator"}


def test_the_speaker_a_floor_input_gets_and_the_language_hint():
    controls = Controls()
    assert controls.speaker_for("floor") is None and controls.language_hint("floor") is None
    speaker(controls, item=0, speaker=0)
    assert controls.speaker_for("floor") == Speaker("Dr. Aliya Seitkali", "Moderator")
    assert controls.language_hint("floor") == "ru"
    # Declared on their own input: the name and the hint only there.
    speaker(controls, item=1, speaker=0)
    assert controls.speaker_for("floor") is None and controls.language_hint("floor") is None
    assert controls.speaker_for("lectern") == Speaker("Michael Turner", "ADB")
    assert controls.language_hint("lectern") == "en"
    speaker(controls, item=1, speaker=1)  # no language declared
    assert controls.speaker_for("floor") and controls.language_hint("floor") is None


def test_the_item_is_set_by_the_operator_or_follows_the_schedule():
    controls = Controls(item=0)
    cmd = parse({"cmd": "item", "item": 1}, programme=PROGRAMME)
    out = apply(cmd, controls, programme=PROGRAMME)
    assert controls.item == 1 and out.events[0].detail["title"] == "The bank"
    assert not apply(cmd, controls, programme=PROGRAMME).changed
    # The schedule moves the item only when the operator asked for it.
    assert follow_schedule(controls, PROGRAMME, time(15, 5)).events == ()
    assert controls.item == 1
    out = apply(parse({"cmd": "item", "auto": True}, programme=PROGRAMME), controls,
                programme=PROGRAMME)
    assert controls.auto_advance and out.events[0].detail["auto"] is True
    out = follow_schedule(controls, PROGRAMME, time(15, 5), now_ns=9)
    assert controls.item == 0
    assert [(e.state, e.emitted_ns, e.detail) for e in out.events] == [
        ("programme_item", 9, {"item": 0, "title": "Opening", "by": "schedule"})]
    assert follow_schedule(controls, PROGRAMME, time(15, 6)).events == ()  # no change
    assert follow_schedule(controls, PROGRAMME, time(14, 0)).events == ()  # before it
    assert controls.item == 0 and controls.speaker is None  # the speaker stays as set
    follow_schedule(controls, PROGRAMME, time(16, 0))
    assert controls.item == 1
    # Choosing an item by hand stops following the schedule, which would undo it.
    out = apply(parse({"cmd": "item", "item": 0}, programme=PROGRAMME), controls,
                programme=PROGRAMME)
    assert (controls.item, controls.auto_advance, out.events[0].detail["auto"]) == (
        0, False, False)
    assert follow_schedule(controls, PROGRAMME, time(16, 0)).events == ()


def test_a_speaker_of_another_item_stops_following_the_schedule_too():
    controls = Controls(item=0, auto_advance=True)
    speaker(controls, item=0, speaker=0)  # of the item on now: the schedule goes on
    assert controls.auto_advance
    out = speaker(controls, item=1, speaker=1)
    assert (controls.item, controls.auto_advance) == (1, False)
    assert out.events[0].detail["auto"] is False
    assert follow_schedule(controls, PROGRAMME, time(15, 5)).events == ()  # not undone
    assert controls.speaker == PROGRAMME.items[1].speakers[1]


def test_a_continued_session_starts_with_the_speaker_and_item_its_journal_recorded():
    controls, journal = Controls(item=0), []

    def run(msg):
        out = apply(parse(msg, programme=PROGRAMME), controls, programme=PROGRAMME)
        journal.extend(out.events)
        # What a restart reads back from the journal is what the room had.
        again = restored(journal, PROGRAMME, forced_language="en")
        assert (again.speaker, again.item, again.auto_advance) == (
            controls.speaker, controls.item, controls.auto_advance), msg
        assert again.forced_language == "en" and not again.paused

    assert restored([], PROGRAMME).item == 0 and restored([], Programme()).item is None
    run({"cmd": "speaker", "item": 1, "speaker": 0})
    run({"cmd": "pause"})
    run({"cmd": "item", "auto": True})
    journal.extend(follow_schedule(controls, PROGRAMME, time(15, 5)).events)
    assert restored(journal, PROGRAMME).item == 0 == controls.item
    run({"cmd": "speaker", "other": True})
    run({"cmd": "item", "item": 1})
    run({"cmd": "speaker", "none": True})
    # An item the programme no longer has is not restored; a damaged status is skipped.
    shorter = Programme(PROGRAMME.items[:1])
    assert restored(journal, shorter).item == 0
    assert restored([Status("speaker_set", 1, detail={"name": ["x"]})]).speaker is None
