"""The broadcaster (:mod:`captioner.delivery.broadcast`) without a server: the catch-up
state a joining or returning viewer is sent, and the fan-out to viewers' queues."""

from __future__ import annotations

import json
import time

import pytest

from captioner.delivery.broadcast import Broadcaster, CatchUp, TooManyViewers
from captioner.delivery.wire import caption_to_dict, status_to_dict
from captioner.events import Caption, Status


def cap(seq: int | None, lang: str = "en", text: str | None = None, *, final: bool = True,
        id: str | None = None, source: str = "floor", input_id: str = "floor",
        revision: int = 0) -> Caption:
    return Caption(id=id or f"u{seq}", final=final, lang=lang,
                   text=text if text is not None else f"caption {seq}",
                   start_s=float(seq or 0), end_s=float(seq or 0) + 1.0,
                   emitted_ns=time.time_ns(), source=source, input_id=input_id,
                   seq=seq if final else None, revision=revision)


def status(state: str, **detail) -> Status:
    return Status(state=state, emitted_ns=time.time_ns(), detail=detail)


# The catch-up state


def test_history_is_bounded_per_track_and_merged_in_seq_order():
    c = CatchUp(history_per_track=3)
    for seq in range(1, 11):
        c.add(caption_to_dict(cap(seq, "ru" if seq % 2 else "en")))
    seqs = [m["seq"] for m in c.snapshot(None)[1:]]
    assert seqs == [5, 6, 7, 8, 9, 10]  # three per track, tracks merged
    assert c.first_seq() == 5 and c.last_seq == 10


def test_snapshot_since_gives_only_newer_captions():
    c = CatchUp()
    for seq in range(1, 6):
        c.add(caption_to_dict(cap(seq, "ru" if seq % 2 else "en")))
    snap = c.snapshot(3)
    assert snap[0]["type"] == "hello" and snap[0]["since"] == 3 and not snap[0]["gap"]
    assert [m["seq"] for m in snap[1:]] == [4, 5]
    assert c.snapshot(5)[1:] == []


def test_hello_reports_a_gap_when_history_was_forgotten():
    c = CatchUp(history_per_track=2)
    for seq in range(1, 6):
        c.add(caption_to_dict(cap(seq)))
    assert c.snapshot(1)[0]["gap"] is True
    assert c.snapshot(3)[0]["gap"] is False


def test_resume_point_of_another_session_is_ignored():
    c = CatchUp(session="abc")
    for seq in range(1, 4):
        c.add(caption_to_dict(cap(seq)))
    assert [m["seq"] for m in c.snapshot(2, "abc")[1:]] == [3]
    other = c.snapshot(2, "zzz")
    assert other[0]["since"] is None
    assert [m["seq"] for m in other[1:]] == [1, 2, 3]


def test_duplicate_or_late_committed_captions_are_not_sent_again():
    c = CatchUp()
    assert c.add(caption_to_dict(cap(1))) is not None
    assert c.add(caption_to_dict(cap(1))) is None
    assert c.add(caption_to_dict(cap(2))) is not None
    assert c.add(caption_to_dict(cap(1, id="late"))) is None
    assert [m["seq"] for m in c.snapshot(None)[1:]] == [1, 2]


def test_committed_caption_without_seq_gets_the_next_one():
    c = CatchUp()
    c.add(caption_to_dict(cap(7)))
    msg = caption_to_dict(cap(None, final=True, id="x"))
    assert msg["seq"] is None
    data = c.add(msg)
    assert json.loads(data)["seq"] == 8


def test_partials_are_latest_wins_per_track_and_input_and_go_on_commit():
    c = CatchUp()
    c.add(caption_to_dict(cap(None, "ru", "раз", final=False, id="a", revision=0)))
    c.add(caption_to_dict(cap(None, "ru", "раз два", final=False, id="a", revision=1)))
    assert c.add(caption_to_dict(cap(None, "ru", "ра", final=False, id="a", revision=0))) is None
    c.add(caption_to_dict(cap(None, "en", "one", final=False, id="b")))
    c.add(caption_to_dict(cap(None, "ru", "booth", final=False, id="c", input_id="booth")))
    partials = [m for m in c.snapshot(None) if m.get("final") is False]
    assert [(m["lang"], m["text"]) for m in partials] == [
        ("ru", "раз два"), ("en", "one"), ("ru", "booth")]
    c.add(caption_to_dict(cap(1, "ru", "Раз, два.", id="a")))
    c.add(caption_to_dict(cap(None, "en", "", final=False, id="b")))  # withdrawn
    snap = c.snapshot(None)
    assert [m["text"] for m in snap if m.get("final") is False] == ["booth"]
    assert [m["text"] for m in snap if m.get("final")] == ["Раз, два."]


def test_statuses_latest_per_state_in_event_order_and_transients_dropped():
    c = CatchUp()
    for st in (status("paused"), status("listening"), status("levels", rms=0.1),
               status("translation_unavailable", lang="en"), status("paused", message="Break"),
               status("translation_unavailable", lang="ru")):
        c.add(status_to_dict(st))
    states = [(m["state"], m.get("lang"), m.get("message"))
              for m in c.snapshot(None) if m["type"] == "status"]
    assert states == [("listening", None, None), ("translation_unavailable", "en", None),
                      ("paused", None, "Break"), ("translation_unavailable", "ru", None)]


# The fan-out to viewers


def test_broadcaster_drops_a_viewer_whose_queue_is_full():
    b = Broadcaster(client_queue=4)
    drops = []
    slow = b.attach(on_drop=lambda: drops.append("slow"))
    fast = b.attach()
    for seq in range(1, 5):
        b.publish(cap(seq))
        fast.queue.get_nowait()
    assert not drops and b.viewer_count == 2
    b.publish(cap(5))
    assert drops == ["slow"] and slow.dropped and b.viewer_count == 1
    assert fast.queue.get_nowait()  # the fast one was not held back
    assert b.dropped_viewers == 1


def test_broadcaster_skips_partials_for_a_viewer_half_behind():
    b = Broadcaster(client_queue=4)
    v = b.attach()
    b.publish(cap(1))
    b.publish(cap(None, final=False, id="p"))
    assert v.queue.qsize() == 2
    b.publish(cap(None, final=False, id="p", revision=1))
    assert v.queue.qsize() == 2 and v.skipped_partials == 1
    b.publish(cap(2))
    assert v.queue.qsize() == 3 and not v.dropped


def test_broadcaster_writes_directly_to_idle_viewers_and_keeps_order():
    b = Broadcaster(client_queue=8)
    written, room = [], [True]
    v = b.attach()
    v.idle, v.write_now = True, lambda data: room[0] and not written.append(data)
    b.publish(cap(1))
    assert len(written) == 1 and v.queue.empty()
    room[0] = False  # socket full: the message waits in the queue
    b.publish(cap(2))
    room[0] = True
    b.publish(cap(3))  # must queue behind 2, not overtake it
    assert len(written) == 1
    assert [json.loads(v.queue.get_nowait())["seq"] for _ in range(2)] == [2, 3]


def test_broadcaster_refuses_viewers_over_the_limit():
    b = Broadcaster(max_clients=1)
    b.attach()
    with pytest.raises(TooManyViewers):
        b.attach()
