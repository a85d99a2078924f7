"""The bus codec: every field of every event and of the figures comes back equal."""

from __future__ import annotations

import dataclasses
import json

import pytest

from captioner.bus.codec import (
    CODEC_VERSION,
    CodecError,
    decode_figures,
    decode_published,
    encode_figures,
    encode_published,
)
from captioner.bus.messages import (
    InputFigures,
    Placement,
    Published,
    RecordFigures,
    RoomFigures,
)
from captioner.events import Caption, Speaker, Status, Word
from captioner.programme import Programme, ProgrammeItem, ProgrammeSpeaker

COMMITTED = Caption(
    id="booth-17", final=True, lang="ru", text="Водные ресурсы «региона» сокращаются 🌊",
    start_s=123.456789012345, end_s=125.1 + 1e-12, emitted_ns=1_746_075_612_345_678_901,
    source="interpretation", input_id="booth", seq=4242, revision=3,
    words=(Word("Водные", 123.456789012345, 123.9, 0.987654321),
           Word("ресурсы", 123.91, 124.5, 1.0)),
    utterance_id="floor-16",
    speaker=Speaker("H.E. Гульнара Асанова", "Minister of Natural Resources"))
PARTIAL = Caption(id="floor-18", final=False, lang="en", text="Water res", start_s=0.0,
                  end_s=0.3, emitted_ns=1, source="floor", input_id="floor", seq=None,
                  revision=7, words=(Word("Water", 0.0, 0.2),), utterance_id=None,
                  speaker=Speaker("Michael Turner"))
MACHINE = Caption(id="mt-floor-16", final=True, lang="en", text="", start_s=-0.0,
                  end_s=1e-9, emitted_ns=0, source="machine", seq=1)
STATUS = Status(state="speech_dropped", emitted_ns=1_746_075_600_000_000_007,
                input_id="floor", detail={"reasons": ["no_speech", "low_logprob"],
                                          "start_s": 1.25, "nested": {"a": None, "b": True},
                                          "count": 3})
BARE_STATUS = Status(state="stopped", emitted_ns=5)
PROGRAMME = Programme((
    ProgrammeItem("Opening", "15:00", "15:10",
                  (ProgrammeSpeaker("Dr. Aliya Seitkali", "Moderator", "ru"),)),
    ProgrammeItem("Bank", "15:40", "", (ProgrammeSpeaker("A", "", "", ""),
                                        ProgrammeSpeaker("Sarah", "ADB", "en", "lectern"))),
    ProgrammeItem("Coffee break")))


def test_every_field_is_set_away_from_its_default():
    # The round trips below prove nothing for a field left at its default.
    defaults = Caption(id="", final=False, lang="", text="", start_s=0, end_s=0,
                       emitted_ns=0)
    for field in dataclasses.fields(Caption):
        assert getattr(COMMITTED, field.name) != getattr(defaults, field.name), field.name


@pytest.mark.parametrize("event", [COMMITTED, PARTIAL, MACHINE, STATUS, BARE_STATUS],
                         ids=["committed", "partial", "machine", "status", "bare-status"])
def test_events_round_trip_field_for_field(event):
    published = Published("pavilion-a", event)
    back = decode_published(encode_published(published))
    assert back == published
    for field in dataclasses.fields(event):
        assert getattr(back.event, field.name) == getattr(event, field.name), field.name
        assert type(getattr(back.event, field.name)) is type(getattr(event, field.name))
    assert back.seq == published.seq and back.message_id == published.message_id


def test_a_message_is_compact_utf8_json_with_its_version():
    data = encode_published(Published("r", COMMITTED))
    body = json.loads(data.decode("utf-8"))
    assert body["v"] == CODEC_VERSION and body["type"] == "caption" and body["room"] == "r"
    assert "Водные".encode() in data and b"\n" not in data


def test_figures_round_trip():
    figures = RoomFigures(
        at_ns=1_746_075_600_123_456_789,
        inputs=(InputFigures("floor", "floor", True, passes=120, dropped_chunks=2,
                             backlog_chunks=3, backlog_s=0.25, asr_seconds=31.5),
                InputFigures("booth", "interpretation", False, passes=7, backlog_s=0.0,
                             asr_seconds=1.0)),
        languages=("ru", "en"), placement=Placement("cpu", "int8", 4),
        forced_language="ru", paused=True, held=3, committed=99,
        translation_engines={"ru": "argos", "en": "whisper"}, translation_queue=2,
        translation_dropped=1, recording=RecordFigures("s1", "/tmp/s1", False, "disk full"),
        input_pass=2, speed=0.0, time_offset_s=3600.5, new_session=True,
        programme=PROGRAMME, item=1, speaker=PROGRAMME.items[1].speakers[1],
        auto_advance=True, title="Вода и климат · Water & climate")
    for field in dataclasses.fields(RoomFigures):  # each away from its default
        assert getattr(figures, field.name) != getattr(RoomFigures(at_ns=0), field.name), \
            field.name
    assert decode_figures(encode_figures("room-b", figures)) == ("room-b", figures)
    empty = RoomFigures(at_ns=0)
    assert decode_figures(encode_figures("r", empty)) == ("r", empty)


def test_figures_of_a_room_without_the_programme_still_decode():
    # A room older than the programme (and the title) sends figures without its fields.
    body = json.loads(encode_figures("r", RoomFigures(at_ns=5)))
    for key in ("programme", "item", "speaker", "auto_advance", "title"):
        del body["figures"][key]
    assert decode_figures(json.dumps(body).encode()) == ("r", RoomFigures(at_ns=5))
    caption = json.loads(encode_published(Published("r", COMMITTED)))
    del caption["caption"]["speaker"]
    assert decode_published(json.dumps(caption).encode()).event.speaker is None


@pytest.mark.parametrize("data, what", [
    (b"\xff\xfe", "not a JSON message"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"v": 2, "type": "caption"}', "codec version 2"),
    (b'{"type": "caption"}', "codec version None"),
    (b'{"v": 1, "type": "figures", "room": "r", "figures": {}}', "not an event message"),
    (b'{"v": 1, "type": "caption", "room": "r", "caption": {"id": "x"}}', "invalid caption"),
])
def test_what_is_not_an_event_message_is_a_codec_error(data, what):
    with pytest.raises(CodecError, match=what):
        decode_published(data)


def test_wrong_types_are_refused_not_coerced():
    body = json.loads(encode_published(Published("r", COMMITTED)))
    body["caption"]["seq"] = 4.5
    with pytest.raises(CodecError, match="expected an integer"):
        decode_published(json.dumps(body).encode())
    body["caption"]["seq"] = 1
    body["caption"]["final"] = "yes"
    with pytest.raises(CodecError, match="expected true or false"):
        decode_published(json.dumps(body).encode())
    with pytest.raises(CodecError, match="not a figures message"):
        decode_figures(encode_published(Published("r", STATUS)))


def test_an_older_edge_reads_a_newer_room_s_figures_and_a_title_must_be_text():
    # Fields are only added within version 1: what a decoder does not know, it ignores.
    body = json.loads(encode_figures("r", RoomFigures(at_ns=5, title="Hall A")))
    body["figures"]["from_the_future"] = {"x": 1}
    assert decode_figures(json.dumps(body).encode()) == ("r", RoomFigures(at_ns=5,
                                                                          title="Hall A"))
    body["figures"]["title"] = 7
    with pytest.raises(CodecError, match="expected text"):
        decode_figures(json.dumps(body).encode())
