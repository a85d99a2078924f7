"""What each operator command does to a room's controls, pure."""

from __future__ import annotations

from captioner.bus.messages import Command
from captioner.delivery.control import parse_command
from captioner.room.controls import Controls, apply

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
