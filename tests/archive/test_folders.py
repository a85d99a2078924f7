"""A room's record in the archive, without a bus: where each message goes, once."""

from __future__ import annotations

import pytest

from captioner.archive.folders import ArchiveWriteError, RoomRecord, StreamId, plan
from captioner.errors import CaptionerError
from captioner.record.session import SessionDir
from tests.archive.scripted import (
    archived,
    caption,
    expected,
    new_session,
    partial,
    script,
    status,
)

ROOM = "pavilion-a"
STREAM = StreamId("captioner-room-pavilion-a", "2025-05-01T09:00:00+00:00")


def record(root, stream: StreamId = STREAM) -> RoomRecord:
    return RoomRecord.open(root, ROOM, stream, "archive-main")


def write_all(rec: RoomRecord, events, first_stream_seq: int = 1) -> list[str]:
    steps = [rec.write(n, e) for n, e in enumerate(events, first_stream_seq)]
    assert rec.sync()
    return steps


def only_folder(root):
    (folder,) = (root / ROOM).iterdir()
    return folder


def test_what_each_message_is():
    kw = dict(first_stream_seq=10, last_seq=5, journal_empty=False, line_seen=False)
    assert plan(partial(6), 12, **kw) == "ignore"
    assert plan(status("levels", 6), 12, **kw) == "ignore"
    assert plan(caption(ROOM, 6), 9, **kw) == "done"  # before the folder
    assert plan(caption(ROOM, 6), 10, **kw) == "repeat"  # the folder's first line
    assert plan(caption(ROOM, 6), 10, **{**kw, "journal_empty": True}) == "append"
    assert plan(caption(ROOM, 5), 12, **kw) == "repeat"
    assert plan(caption(ROOM, 6), 12, **kw) == "append"
    assert plan(status("input_lost", 6), 12, **kw) == "append"
    assert plan(status("input_lost", 6), 12, **{**kw, "line_seen": True}) == "repeat"
    assert plan(new_session(6, "t"), 12, **kw) == "open"
    none = dict(first_stream_seq=None, last_seq=None, journal_empty=True, line_seen=False)
    assert plan(status("input_lost", 1), 3, **none) == "open"  # the room's first folder


def test_a_room_is_written_and_split_where_its_operator_started_a_new_session(tmp_path):
    rec = record(tmp_path)
    morning = script(ROOM, 1, 6)
    afternoon = [new_session(7, "Водные ресурсы"), *script(ROOM, 7, 9), status("stopped", 10)]
    steps = write_all(rec, morning + afternoon)
    rec.close()
    assert steps.count("open") == 2
    first, second = sorted((tmp_path / ROOM).iterdir(),
                           key=lambda p: SessionDir.open(p).meta["archive"]["first_stream_seq"])
    assert archived(first) == expected(morning)
    assert archived(second) == expected(afternoon)
    meta = SessionDir.open(second).meta
    assert second.name.endswith("_vodnye-resursy") and meta["title"] == "Водные ресурсы"
    assert meta["archive"] == {"room": ROOM, "stream": STREAM.name,
                               "stream_created": STREAM.created,
                               "first_stream_seq": len(morning) + 1,
                               "consumer": "archive-main",
                               "room_session": "2025-05-01_120007_x"}
    assert meta["stopped_at"] is not None
    assert SessionDir.open(first).meta["stopped_at"] is not None
    # Stream time 0 of the first folder: the first caption's emission less its end time.
    assert SessionDir.open(first).started_at.timestamp() == pytest.approx(
        caption(ROOM, 1).emitted_ns / 1e9 - caption(ROOM, 1).end_s)


def test_after_a_restart_messages_that_come_again_are_written_once(tmp_path):
    events = script(ROOM, 1, 10)
    rec = record(tmp_path)
    write_all(rec, events)
    rec.close()
    # Acknowledged up to 8; the run that wrote 9.. died: they all come again.
    again = record(tmp_path)
    assert again.path == only_folder(tmp_path) and again.last_seq == 10
    again.expect_repeats(len(events) - 8)
    steps = write_all(again, events[8:], first_stream_seq=9)
    assert set(steps) <= {"repeat", "ignore"}
    more = script(ROOM, 11, 12)
    write_all(again, more, first_stream_seq=len(events) + 1)
    again.close()
    assert archived(only_folder(tmp_path)) == expected(events + more)


def test_a_folder_made_just_before_a_crash_gets_its_first_line(tmp_path):
    rec = record(tmp_path)
    write_all(rec, script(ROOM, 1, 3))
    rec.close()
    opening = new_session(4, "After")
    SessionDir.create(tmp_path / ROOM, "After", extra={"archive": {
        "room": ROOM, "stream": STREAM.name, "stream_created": STREAM.created,
        "first_stream_seq": 20, "consumer": "archive-main", "room_session": None}})
    again = record(tmp_path)
    assert again.write(19, caption(ROOM, 3)) == "done"
    assert again.write(20, opening) == "append"
    assert again.write(20, opening) == "repeat"
    again.close()


def test_a_stream_made_again_starts_a_new_folder(tmp_path):
    rec = record(tmp_path)
    write_all(rec, script(ROOM, 1, 3))
    rec.close()
    remade = record(tmp_path, StreamId(STREAM.name, "2025-05-02T09:00:00+00:00"))
    assert remade.path is None  # the old folder is of another stream
    steps = write_all(remade, script(ROOM, 1, 2))  # numbered from 1 again: not repeats
    remade.close()
    assert "open" in steps and "repeat" not in steps
    assert len(list((tmp_path / ROOM).iterdir())) == 2


def test_a_folder_that_cannot_be_made_keeps_the_old_one_and_can_be_tried_again(
        tmp_path, monkeypatch):
    rec = record(tmp_path)
    write_all(rec, script(ROOM, 1, 2))

    def refuse(*args, **kwargs):
        raise CaptionerError("sessions: cannot create a session folder (No space left on "
                             "device)")

    with monkeypatch.context() as patched:
        patched.setattr(SessionDir, "create", refuse)
        with pytest.raises(ArchiveWriteError, match="No space left"):
            rec.write(10, new_session(3, "Next"))
    assert rec.write(11, caption(ROOM, 2)) == "repeat"  # still the old folder
    assert rec.write(10, new_session(3, "Next")) == "open"
    rec.close()
    assert len(list((tmp_path / ROOM).iterdir())) == 2
