"""Operator control, pure: tokens, origins, commands and the screen gate."""

from __future__ import annotations

import pytest

from captioner.bus.messages import Command
from captioner.delivery.control import (
    MAX_MESSAGE_CHARS,
    TOKEN_ENV,
    bearer_token,
    cycle_language,
    generate_token,
    origin_allowed,
    parse_command,
    resolve_token,
    token_matches,
)
from captioner.errors import CaptionerError, CommandError
from captioner.events import Caption, Status
from captioner.room.controls import Controls, apply
from captioner.room.gate import ScreenGate

INPUTS = ("floor", "booth")


def cap(text: str, *, final: bool = True, id: str = "u1", lang: str = "en",
        input_id: str = "floor", revision: int = 0) -> Caption:
    return Caption(id=id, final=final, lang=lang, text=text, start_s=0.0, end_s=1.0,
                   emitted_ns=1, input_id=input_id, seq=1 if final else None,
                   revision=revision)


def st(state: str, input_id: str | None = None, **detail) -> Status:
    return Status(state, 1, input_id=input_id, detail=detail)


def parse(msg, **kwargs) -> Command:
    return parse_command(msg, inputs=INPUTS, **kwargs)


# -- tokens and origins


def test_generated_tokens_are_long_and_different():
    a, b = generate_token(), generate_token()
    assert a != b and len(a) >= 40


def test_token_comes_from_config_then_environment_then_is_generated():
    assert resolve_token("c" * 20, {TOKEN_ENV: "e" * 20}) == ("c" * 20, "config")
    assert resolve_token(None, {TOKEN_ENV: "e" * 20}) == ("e" * 20, "env")
    token, origin = resolve_token(None, {})
    assert origin == "generated" and len(token) >= 40
    assert resolve_token("", {TOKEN_ENV: ""})[1] == "generated"


@pytest.mark.parametrize("weak", ["short", "has spaces in the middle", "нелатиница-токен-длинный"])
def test_weak_configured_tokens_are_refused(weak):
    with pytest.raises(CaptionerError, match="at least 16"):
        resolve_token(weak, {})
    with pytest.raises(CaptionerError, match=TOKEN_ENV):
        resolve_token(None, {TOKEN_ENV: weak})


def test_token_comparison():
    token = generate_token()
    assert token_matches(token, token)
    assert not token_matches(token, token[:-1])
    assert not token_matches(token, token + "x")
    assert not token_matches(token, "")
    assert not token_matches(token, None)
    assert not token_matches(token, 12345)
    assert not token_matches(token, "токен")  # non-ASCII never raises


@pytest.mark.parametrize("header, token", [
    ("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer", None),
    ("", None), (None, None)])
def test_bearer_token(header, token):
    assert bearer_token(header) == token


@pytest.mark.parametrize("origin, host, ok", [
    ("http://10.0.0.5:8765", "10.0.0.5:8765", True),
    ("http://Captions.local:8765", "captions.local:8765", True),
    ("https://captions.example:443", "captions.example", True),
    ("http://captions.example", "captions.example:80", True),
    (None, "10.0.0.5:8765", True),  # not a browser: the token decides
    ("http://10.0.0.5:9999", "10.0.0.5:8765", False),
    ("http://evil.example", "10.0.0.5:8765", False),
    ("null", "10.0.0.5:8765", False),
    ("file://", "10.0.0.5:8765", False),
    ("http://10.0.0.5:8765", None, False),
])
def test_origin_must_be_the_host_the_console_came_from(origin, host, ok):
    assert origin_allowed(origin, host) is ok


# -- commands


def test_commands_parse():
    assert parse({"cmd": "pause", "message": "Break", "id": 3}) == Command(
        "pause", {"message": "Break", "default": False}, 3)
    assert parse({"cmd": "pause"}).args == {"message": "", "default": True}
    assert parse({"cmd": "resume"}).name == "resume"
    assert parse({"cmd": "clear", "id": "x"}).id == "x"
    assert parse({"cmd": "language", "lang": "auto"}).args == {"lang": "auto"}
    assert parse({"cmd": "input", "input": "booth", "enabled": False}).args == {
        "input": "booth", "enabled": False}
    assert parse({"cmd": "message", "text": " Hello\x07 "}).args == {
        "text": "Hello", "duration_s": 15.0}
    assert parse({"cmd": "message", "text": "Hi", "duration_s": 30}).args["duration_s"] == 30.0
    assert parse({"cmd": "new_session"}).args == {"title": ""}


@pytest.mark.parametrize("msg, error", [
    ([], "JSON object"),
    ({"cmd": "reboot"}, "unknown command"),
    ({"type": "auth", "token": "x"}, "unknown command"),
    ({"cmd": "pause", "id": {"x": 1}}, "id must be"),
    ({"cmd": "pause", "id": True}, "id must be"),
    ({"cmd": "pause", "message": 5}, "message must be text"),
    ({"cmd": "pause", "message": "x" * (MAX_MESSAGE_CHARS + 1)}, "longer than"),
    ({"cmd": "language", "lang": "de"}, "lang must be one of auto, ru, en"),
    ({"cmd": "language"}, "lang must be"),
    ({"cmd": "input", "input": "balcony", "enabled": True}, "unknown input"),
    ({"cmd": "input", "input": "booth", "enabled": "no"}, "enabled must be"),
    ({"cmd": "message"}, "text is required"),
    ({"cmd": "message", "text": "   "}, "text is empty"),
    ({"cmd": "message", "text": "Hi", "duration_s": 0}, "duration_s"),
    ({"cmd": "message", "text": "Hi", "duration_s": True}, "duration_s"),
    ({"cmd": "message", "text": "Hi", "duration_s": "10"}, "duration_s"),
    ({"cmd": "new_session", "title": "x" * 200}, "longer than"),
])
def test_bad_commands_are_refused_with_a_reason(msg, error):
    with pytest.raises(CommandError, match=error):
        parse(msg)


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


def test_cycle_language():
    assert [cycle_language(x) for x in (None, "ru", "en", "de")] == ["ru", "en", "auto", "auto"]
    assert cycle_language("auto") == "ru"


# -- the screen gate


def test_gate_passes_everything_while_live():
    gate = ScreenGate()
    for event in (cap("a", final=False), cap("a"), st("levels", "floor"), st("clear")):
        assert gate.forward(event) == [event]


def test_gate_holds_captions_while_paused_and_counts_committed_ones():
    gate = ScreenGate()
    paused = st("paused", message="Break")
    assert gate.forward(paused) == [paused]
    assert gate.forward(cap("hidden", final=False)) == []
    assert gate.forward(cap("hidden")) == []
    message = st("message", text="Back soon")
    assert gate.forward(message) == [message]  # operator messages still go out
    assert gate.held == 1
    resumed = st("resumed")
    assert gate.forward(resumed) == [resumed]
    assert gate.forward(cap("shown")) == [cap("shown")]


def test_gate_withdraws_partials_on_display_when_pausing():
    gate = ScreenGate()
    gate.forward(cap("half a sent", final=False, id="a", revision=2))
    gate.forward(cap("booth words", final=False, id="b", input_id="booth", lang="ru"))
    gate.forward(cap("done", final=False, id="c", lang="ru"))
    gate.forward(cap("Done.", id="c", lang="ru"))  # committed: nothing left to withdraw
    out = gate.forward(st("paused"))
    assert out[0].state == "paused"
    withdrawn = out[1:]
    assert [(c.id, c.text, c.final, c.revision) for c in withdrawn] == [
        ("a", "", False, 3), ("b", "", False, 1)]
    assert gate.forward(st("paused")) == [st("paused")]  # nothing on display any more


def test_gate_keeps_screens_paused_across_listening_and_reannounces_lost_inputs():
    gate = ScreenGate()
    paused = st("paused", message="Break")
    gate.forward(paused)
    listening = st("listening")
    assert gate.forward(listening) == [listening, paused]  # views clear "paused" on it
    lost = st("input_lost", "floor", error="unplugged")
    gate.forward(lost)
    gate.forward(st("input_lost", "booth"))
    gate.forward(st("input_restored", "booth"))
    resumed = st("resumed")
    assert gate.forward(resumed) == [resumed, lost]  # views clear "no audio" on resumed
    gate.forward(st("listening", "floor"))
    assert gate.forward(st("paused")) and gate.forward(resumed) == [resumed]


def test_gate_takes_input_ok_as_input_restored():
    gate = ScreenGate()
    gate.forward(st("input_lost", "floor"))
    gate.forward(st("input_ok", "floor"))
    gate.forward(st("paused"))
    resumed = st("resumed")
    assert gate.forward(resumed) == [resumed]
