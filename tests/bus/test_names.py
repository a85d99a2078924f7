"""Names on the bus: room ids, subjects, streams, message ids and URLs fit to show."""

from __future__ import annotations

import pytest

from captioner.bus.names import (
    check_room,
    check_urls,
    events_subject,
    figures_subject,
    kind_of,
    redact_url,
    room_of_stream,
    status_message_id,
    stream_name,
)
from captioner.events import Caption, Status


@pytest.mark.parametrize("room", ["pavilion-a", "r", "room_2", "0", "a" * 63])
def test_good_room_ids(room):
    assert check_room(room) == room
    assert room_of_stream(stream_name(room)) == room


@pytest.mark.parametrize("room", ["", "Pavilion", "a.b", "a*", "a>", "a b", "-a", "_a",
                                  "a/b", "ключ", "a" * 64, "a\n"])
def test_room_ids_that_would_break_a_subject_a_stream_or_a_url(room):
    with pytest.raises(ValueError, match="lowercase letters, digits"):
        check_room(room)


def test_subjects_and_streams():
    assert events_subject("pavilion-a") == "captioner.room.pavilion-a.events.>"
    assert events_subject("pavilion-a", "caption") == "captioner.room.pavilion-a.events.caption"
    assert figures_subject("pavilion-a") == "captioner.room.pavilion-a.figures"
    assert stream_name("pavilion-a") == "captioner-room-pavilion-a"
    assert room_of_stream("KV_settings") is None
    assert room_of_stream("captioner-room-Bad.Name") is None


def test_the_kind_of_an_event_picks_its_subject():
    committed = Caption("f-1", True, "en", "x", 0, 1, 0, seq=1)
    assert kind_of(committed) == "caption"
    assert kind_of(Caption("f-1", False, "en", "x", 0, 1, 0)) == "partial"
    assert kind_of(Status("paused", 0)) == "status"


def test_a_status_message_id_survives_the_journals_rounding():
    live = Status("input_lost", 1_746_075_600_123_456_789, "floor")
    journaled = Status("input_lost", int(float(round(live.emitted_ns / 1e9, 6)) * 1e9), "floor")
    assert status_message_id("r", live) == status_message_id("r", journaled)
    assert status_message_id("r", live) != status_message_id("r", Status("input_ok", 1, "floor"))


@pytest.mark.parametrize("url, shown", [
    ("nats://bus:4222", "nats://bus:4222"),
    ("nats://room:s3cret@bus:4222", "nats://room:***@bus:4222"),
    ("tls://T0KEN@bus.venue:4222", "tls://***@bus.venue:4222"),
    ("nats://a:p@h1:4222, nats://a:p@h2:4222", "nats://a:***@h1:4222,nats://a:***@h2:4222"),
    ("nats://u:p:w@h", "nats://u:***@h"),
])
def test_a_url_is_shown_without_its_secret(url, shown):
    assert redact_url(url) == shown


@pytest.mark.parametrize("url", ["nats://bus:4222", "tls://bus.venue:4222", "nats://bus",
                                 "nats://a:b@h:1,tls://h2:2", "nats://[::1]:4222"])
def test_good_urls(url):
    check_urls(url)


@pytest.mark.parametrize("url, what", [
    ("", "no URL"),
    ("http://bus:4222", "nats:// or tls://, not http"),
    ("bus:4222", "nats:// or tls://"),
    ("nats://:4222", "no host"),
    ("nats://bus:port", "not a URL"),
    ("nats://bus:0", "port 0"),
    ("nats://bus:4222/path", "no path"),
    ("nats://bus:4222,", "no URL"),
])
def test_bad_urls_say_what_is_wrong(url, what):
    with pytest.raises(ValueError, match=what):
        check_urls(url)
