"""The current session record: opened new or resumed, replaced by a new session, and
the journal sink that follows it."""

from __future__ import annotations

import time
from pathlib import Path

from captioner.events import Status
from captioner.record.current import CurrentRecord, RecordRequest, journal_sink, open_record
from captioner.record.journal import Journal
from captioner.record.journal_read import read_journal
from captioner.record.session import SessionDir
from tests.journal_writer import caption


def resumable(root: Path, captions: int) -> SessionDir:
    """A recorded session whose first run committed ``captions`` captions."""
    session = SessionDir.create(root, "Side event", inputs=["floor"])
    with Journal(session.journal_path) as journal:
        for seq in range(1, captions + 1):
            assert journal.append(caption(seq))
    session.close()
    return SessionDir.open(session.path)


def test_a_new_record_has_no_resumed_status(tmp_path):
    record = open_record(RecordRequest(tmp_path, inputs=("floor",), record_audio=False))
    try:
        assert record.resumed is None
        assert record.figures().healthy and record.figures().path == str(record.session.path)
    finally:
        record.close()


def test_a_resumed_record_says_where_it_continues(tmp_path):
    session = resumable(tmp_path, 3)
    record = open_record(RecordRequest(tmp_path, inputs=("floor",), record_audio=False,
                                       resume=str(session.path)))
    try:
        status = record.resumed
        assert status is not None and status.state == "session_resumed"
        assert status.detail["name"] == session.name
        assert status.detail["after_seq"] == 3
        assert status.detail["offset_s"] >= 0
    finally:
        record.close()


async def test_a_new_session_takes_the_next_event_and_closes_the_old_one(tmp_path):
    request = RecordRequest(tmp_path, title="Morning", inputs=("floor",), record_audio=False)
    current = CurrentRecord(open_record(request), request)
    sink = current.journal_sink()
    first = current.record.session
    assert current.title == "Morning"
    sink(caption(1))
    info = await current.new_session("Afternoon")
    assert current.title == "Afternoon"  # what the room's figures tell the venue index
    sink(caption(2))
    current.close()
    second = current.record.session
    assert info == {"name": second.name, "path": str(second.path)}
    assert first.path != second.path and "afternoon" in second.name.lower()
    assert [c.seq for c in read_journal(first.journal_path).captions] == [1]
    assert [c.seq for c in read_journal(second.journal_path).captions] == [2]


class FullDisk:
    def __init__(self) -> None:
        self.ok = False
        self.error = "journal: disk full (No space left on device)"

    def append(self, event) -> bool:
        return self.ok


def test_the_journal_sink_says_once_when_writes_fail_and_once_when_they_recover():
    journal, said = FullDisk(), []
    sink = journal_sink(lambda: journal, said.append)
    sink(caption(1))
    sink(caption(2))
    journal.ok = True
    sink(caption(3))
    sink(Status("levels", time.time_ns()))  # not journaled: nothing to say
    assert [(s.state, s.detail["component"]) for s in said] == [
        ("recording_error", "journal"), ("recording_ok", "journal")]
    assert "disk full" in said[0].detail["error"]


def test_the_programme_goes_into_the_session_folder_and_a_resume_updates_it(tmp_path):
    items = ({"title": "Opening", "start": "15:00", "end": "", "speakers": []},)
    record = open_record(RecordRequest(tmp_path, inputs=("floor",), record_audio=False,
                                       programme=items))
    record.close()
    assert record.session.programme() == list(items)
    changed = ({"title": "Q&A", "start": "", "end": "", "speakers": []},)
    again = open_record(RecordRequest(tmp_path, inputs=("floor",), record_audio=False,
                                      resume=str(record.session.path), programme=changed))
    again.close()
    assert again.session.programme() == list(changed)
