"""Operator control, pure: tokens, origins, and the command language."""

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
from captioner.programme import (
    OTHER_SPEAKER,
    Programme,
    ProgrammeItem,
    ProgrammeSpeaker,
    speaker_to_data,
)

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
    ({"cmd": "input", "input": ["booth"], "enabled": True}, "unknown input"),
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


def test_cycle_language():
    assert [cycle_language(x) for x in (None, "ru", "en", "de")] == ["ru", "en", "auto", "auto"]
    assert cycle_language("auto") == "ru"


# -- who speaks: the speaker and item commands -------------------------------------------------

PROGRAMME = Programme((
    ProgrammeItem("Opening", "15:00", "15:10",
                  (ProgrammeSpeaker("Dr. Aliya Seitkali", "Moderator", "ru"),)),
    ProgrammeItem("The bank", "15:40", "", (ProgrammeSpeaker("Michael Turner", "ADB", "en"),
                                            ProgrammeSpeaker("Sarah Lindqvist"))),
))


def test_speaker_commands_parse_to_the_speaker_as_data():
    def speaker(**msg):
        return parse({"cmd": "speaker", **msg}, programme=PROGRAMME).args

    assert speaker(item=1, speaker=0) == {"item": 1, "speaker": {
        "name": "Michael Turner", "role": "ADB", "language": "en", "input": ""}}
    assert speaker(item=0, speaker=0)["speaker"]["name"] == "Dr. Aliya Seitkali"
    assert speaker(other=True) == {"item": None, "speaker": speaker_to_data(OTHER_SPEAKER)}
    assert speaker(none=True) == {"item": None, "speaker": None}
    free = speaker(name="  Ms\x07 Guest ", role="UNDP", lang="en", input="floor")
    assert free == {"item": None, "speaker": {"name": "Ms Guest", "role": "UNDP",
                                              "language": "en", "input": "floor"}}
    assert speaker(name="Guest")["speaker"]["language"] == ""
    # On one line, as the programme's names are.
    assert speaker(name="Ms\nGuest", role="UNDP,\n Istanbul")["speaker"] == {
        "name": "Ms Guest", "role": "UNDP, Istanbul", "language": "", "input": ""}


@pytest.mark.parametrize("msg, error", [
    ({}, "say who speaks with one of"),
    ({"other": True, "none": True}, "say who speaks with one of"),
    ({"item": 2, "speaker": 0}, "item must be a number from 0 to 1"),
    ({"item": 1, "speaker": 2}, "speaker must be a number from 0 to 1"),
    ({"item": True, "speaker": 0}, "item must be a number"),
    ({"item": 0, "speaker": "0"}, "speaker must be a number"),
    ({"speaker": 0}, "item must be a number"),
    ({"other": 1}, "other must be true"),
    ({"item": 0, "other": True}, "item goes with speaker"),
    ({"name": ""}, "name is empty"),
    ({"name": "x" * 81}, "name is longer than 80 characters"),
    ({"name": "A", "role": "r" * 121}, "role is longer than 120"),
    ({"name": "A", "lang": "fr"}, "lang must be one of ru, en"),
    ({"name": "A", "input": "lectern"}, "unknown input 'lectern'"),
    ({"name": "A", "lang": ["ru"]}, "lang must be one of ru, en"),  # not hashable
    ({"name": "A", "lang": {}}, "lang must be one of ru, en"),
    ({"name": "A", "input": ["floor"]}, "unknown input"),
])
def test_bad_speaker_commands_are_refused_with_a_reason(msg, error):
    with pytest.raises(CommandError, match=error):
        parse({"cmd": "speaker", **msg}, programme=PROGRAMME)


def test_item_commands_parse_and_check_the_programme():
    assert parse({"cmd": "item", "item": 1}, programme=PROGRAMME).args == {"item": 1}
    assert parse({"cmd": "item", "auto": True}, programme=PROGRAMME).args == {"auto": True}
    for msg, error in (({"item": 2}, "item must be a number from 0 to 1"),
                       ({}, "give item"), ({"item": 0, "auto": True}, "give item"),
                       ({"auto": "yes"}, "auto must be true or false")):
        with pytest.raises(CommandError, match=error):
            parse({"cmd": "item", **msg}, programme=PROGRAMME)
    with pytest.raises(CommandError, match="the programme has no items"):
        parse({"cmd": "item", "item": 0})
    with pytest.raises(CommandError, match="the programme has no items"):
        parse({"cmd": "speaker", "item": 0, "speaker": 0})


def test_a_speaker_of_an_item_without_speakers_is_refused_naming_the_item():
    programme = Programme((ProgrammeItem("Coffee break", "15:10"),
                           *PROGRAMME.items))
    with pytest.raises(CommandError, match="item 0 .Coffee break. has no speakers"):
        parse({"cmd": "speaker", "item": 0, "speaker": 0}, programme=programme)
