"""The venue as an edge shows it: a room's title and state, its addresses, the index."""

from __future__ import annotations

from captioner.bus.messages import RoomFigures
from captioner.delivery.venue import (
    ENDED,
    LIVE,
    PAUSED_STATE,
    QUIET_S,
    RoomState,
    base_url,
    index_page,
    room_entry,
    room_urls,
)
from captioner.events import Caption, Status

T0 = 1_746_075_600_000_000_000
S = 10**9


def status(state: str, at_s: float = 0, **detail) -> Status:
    return Status(state=state, emitted_ns=T0 + int(at_s * S), detail=detail)


def caption(seq: int, at_s: float = 0) -> Caption:
    return Caption(id=f"c{seq}", final=True, lang="en", text=f"caption {seq}", start_s=0.0,
                   end_s=1.0, emitted_ns=T0 + int(at_s * S), seq=seq)


def test_a_room_is_live_while_heard_from_and_ended_when_quiet():
    room = RoomState("pavilion-a")
    assert room.state(T0) == ENDED  # never heard from
    room.event(caption(1, at_s=0))
    assert room.state(T0 + 5 * S) == LIVE and room.last_seq == 1
    assert room.state(T0 + int((QUIET_S + 1) * S)) == ENDED
    room.figures(RoomFigures(at_ns=T0 + 100 * S))
    assert room.state(T0 + 101 * S) == LIVE


def test_statuses_pause_resume_end_and_name_a_room():
    room = RoomState("pavilion-a")
    assert room.name == "pavilion-a"
    room.event(status("session_started", title="Water and climate", name="2025-05-01"))
    assert room.name == "Water and climate"
    room.event(status("paused", 1))
    assert room.state(T0 + 2 * S) == PAUSED_STATE
    room.event(status("resumed", 2))
    assert room.state(T0 + 3 * S) == LIVE
    room.event(status("paused", 3))
    room.event(status("listening", 4))  # as the views take it: on the air again
    assert room.state(T0 + 5 * S) == LIVE
    room.event(status("stopped", 5))
    assert room.state(T0 + 6 * S) == ENDED
    room.event(status("session_resumed", 9))
    assert room.state(T0 + 10 * S) == LIVE
    room.event(status("session_started", 10, title="  "))  # a blank title names nothing
    assert room.name == "Water and climate"
    room.event(status("programme_item", 11, item=2, title="Coffee break", by="schedule"))
    assert room.name == "Water and climate"  # the talk on now is not the room's name
    # A stopped room says its title, for an edge that finds it only then.
    late = RoomState("pavilion-a")
    late.event(status("stopped", 12, committed=40, title="Water and climate"))
    assert late.name == "Water and climate" and late.state(T0 + 13 * S) == ENDED


def test_figures_say_whether_the_screens_are_paused():
    room = RoomState("pavilion-a")
    room.figures(RoomFigures(at_ns=T0, paused=True))
    assert room.state(T0 + S) == PAUSED_STATE
    room.figures(RoomFigures(at_ns=T0 + S, paused=False))
    assert room.state(T0 + 2 * S) == LIVE


def test_figures_name_a_room_by_its_session_s_title():
    room = RoomState("pavilion-a")
    room.figures(RoomFigures(at_ns=T0))  # a room without a title, or older than the field
    assert room.name == "pavilion-a"
    room.figures(RoomFigures(at_ns=T0 + S, title=" Water & climate "))
    assert room.name == "Water & climate"
    room.event(status("session_started", 2, title="Afternoon panel"))
    assert room.name == "Afternoon panel"  # the operator's new session, at once
    room.figures(RoomFigures(at_ns=T0 + 3 * S, title="Afternoon panel"))
    room.figures(RoomFigures(at_ns=T0 + 4 * S, title=""))
    assert room.name == "Afternoon panel"  # an empty title takes none away
    page = index_page([room], T0 + 5 * S).decode()
    assert "Afternoon panel" in page and room_entry(room, T0)["title"] == "Afternoon panel"


def test_older_news_does_not_make_a_room_look_quiet():
    room = RoomState("pavilion-a")
    room.heard(T0 + 50 * S)  # the listing's last caption
    room.event(caption(1, at_s=0))  # from the history, older
    assert room.heard_ns == T0 + 50 * S
    room.heard(None)
    assert room.heard_ns == T0 + 50 * S


def test_addresses_follow_the_host_the_viewer_used():
    assert base_url({"Host": "captions.venue.org"}, "http://10.0.0.5:8765/") == \
        "http://captions.venue.org"
    assert base_url({"Host": "captions.venue.org", "X-Forwarded-Proto": "https"},
                    "http://x/") == "https://captions.venue.org"
    assert base_url({"Host": "[::1]:8080"}, "http://x/") == "http://[::1]:8080"
    for bad in ("", "evil.org/<script>", "a b", "x:y:z"):
        assert base_url({"Host": bad}, "http://10.0.0.5:8765/") == "http://10.0.0.5:8765"
    assert room_urls("https://captions.venue.org", "pavilion-a") == {
        "phone": "https://captions.venue.org/r/pavilion-a/",
        "screen": "https://captions.venue.org/r/pavilion-a/screen",
        "overlay": "https://captions.venue.org/r/pavilion-a/overlay?lang=both",
        "ws": "wss://captions.venue.org/r/pavilion-a/ws",
    }
    assert room_urls("http://10.0.0.5:8765", "b")["ws"] == "ws://10.0.0.5:8765/r/b/ws"


def test_the_index_lists_every_room_with_its_state_views_and_qr_code():
    a, b = RoomState("pavilion-a"), RoomState("pavilion-b")
    a.event(status("session_started", title="Water <and> climate"))
    b.event(status("stopped"))
    page = index_page([b, a], T0 + S).decode()
    assert page.index('data-room="pavilion-a"') < page.index('data-room="pavilion-b"')
    assert "Water &lt;and&gt; climate" in page and "<and>" not in page
    assert '<a href="r/pavilion-a/">' in page and 'href="r/pavilion-a/screen"' in page
    assert 'src="r/pavilion-a/qr.svg"' in page
    assert 'class="room live"' in page and 'class="room ended"' in page
    assert "<script" not in page and 'http-equiv="refresh"' in page
    assert "No room is on the air yet" in index_page([], T0).decode()
    assert room_entry(a, T0 + S) == {"room": "pavilion-a", "title": "Water <and> climate",
                                     "state": LIVE, "last_seq": None,
                                     "path": "/r/pavilion-a/"}
