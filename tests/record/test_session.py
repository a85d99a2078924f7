"""captioner.record.session: session folders and their metadata."""

from __future__ import annotations

import errno
import json
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from captioner.config import CaptionsConfig
from captioner.errors import CaptionerError
from captioner.record import session as session_module
from captioner.record.session import SessionDir, slugify
from tests.sessiontools import START, Maker


def test_slugify():
    assert slugify("Климат и вода: Central Asia!") == "klimat-i-voda-central-asia"
    assert slugify("   ") == ""
    assert len(slugify("x" * 100)) == 40


def test_create_makes_a_complete_session_folder(tmp_path):
    root = tmp_path / "sessions"
    session = SessionDir.create(root, "Climate & water", START,
                                config=CaptionsConfig(), inputs=["floor"])
    assert session.path == root / "2025-05-01_100000_climate-water"
    assert (session.path / "journal.jsonl").read_bytes() == b""
    assert (session.path / "audio").is_dir()
    meta = json.loads((session.path / "session.json").read_text(encoding="utf-8"))
    assert meta["title"] == "Climate & water"
    assert meta["started_at"] == "2025-05-01T10:00:00.000+05:00"
    assert meta["stopped_at"] is None
    assert meta["config"]["max_chars_ru"] == 39
    assert meta["inputs"] == ["floor"]
    assert [p.name for p in root.iterdir()] == [session.name]  # no staging left over
    again = SessionDir.create(root, "Climate & water", START)
    assert again.name == "2025-05-01_100000_climate-water-2"
    untitled = SessionDir.create(root, None, START + timedelta(seconds=1))
    assert untitled.name == "2025-05-01_100001"


def test_extra_keys_are_kept_and_cannot_replace_the_metadata(tmp_path):
    session = SessionDir.create(tmp_path, "Talk", START, extra={
        "archive": {"room": "pavilion-a"}, "format": "something else"})
    meta = json.loads((session.path / "session.json").read_text(encoding="utf-8"))
    assert meta["archive"] == {"room": "pavilion-a"}
    assert meta["format"] == "captioner-session"
    assert SessionDir.open(session.path).meta["archive"]["room"] == "pavilion-a"


def test_open_rejects_what_is_not_a_session(tmp_path):
    with pytest.raises(CaptionerError, match="no such session folder"):
        SessionDir.open(tmp_path / "missing")
    with pytest.raises(CaptionerError, match="not a captioner session folder") as err:
        SessionDir.open(tmp_path)
    assert err.value.hint
    (tmp_path / "session.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(CaptionerError, match="unreadable session metadata"):
        SessionDir.open(tmp_path)
    (tmp_path / "session.json").write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(CaptionerError, match="not captioner session metadata"):
        SessionDir.open(tmp_path)


def test_resume_and_close_update_the_metadata(tmp_path):
    session = SessionDir.create(tmp_path, "t", START)
    with session.open_journal() as journal:
        journal.append(Maker()("ru", "Привет.", 1.0, 2.0))
    session.close(START + timedelta(minutes=5))
    reopened = SessionDir.open(session.path)
    assert reopened.stopped_at == START + timedelta(minutes=5)
    offset = reopened.mark_resumed(START + timedelta(minutes=7, seconds=30))
    assert offset == 450.0
    again = SessionDir.open(session.path)
    assert again.stopped_at is None
    assert len(again.meta["runs"]) == 2
    with again.open_journal() as journal:
        assert journal.last_seq == 1



def test_a_failing_disk_is_an_error_but_a_folder_that_cannot_be_synced_is_not(tmp_path,
                                                                              monkeypatch):
    real = os.fsync

    def folder_fsync_failing(code: int):
        def fsync(fd: int) -> None:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                raise OSError(code, os.strerror(code))
            real(fd)
        return fsync

    monkeypatch.setattr(os, "fsync", folder_fsync_failing(errno.ENOTSUP))
    session = SessionDir.create(tmp_path, "t", START)  # e.g. a network filesystem
    session.close(START + timedelta(minutes=1))
    assert SessionDir.open(session.path).stopped_at == START + timedelta(minutes=1)
    monkeypatch.setattr(os, "fsync", folder_fsync_failing(errno.EIO))
    with pytest.raises(CaptionerError, match="cannot create a session folder"):
        SessionDir.create(tmp_path, "u", START)
    assert [p.name for p in tmp_path.iterdir()] == [session.name]  # nothing of "u" left
    with pytest.raises(CaptionerError, match="session.json: cannot write"):
        session.save()


@pytest.mark.parametrize("failing", ["write", "rename"])
def test_a_failed_create_leaves_no_staging_folder_behind(tmp_path, monkeypatch, failing):
    def no_space(path, doc):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def io_error(self, target):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    if failing == "write":  # the disk fills up while session.json is written
        monkeypatch.setattr(session_module, "write_json_atomic", no_space)
    else:
        monkeypatch.setattr(Path, "rename", io_error)
    root = tmp_path / "sessions"
    with pytest.raises(CaptionerError, match="cannot create a session folder") as raised:
        SessionDir.create(root, "Side event", START)
    assert str(root / "2025-05-01_100000_side-event") in str(raised.value)
    assert list(root.iterdir()) == []


def test_a_create_that_fails_for_another_reason_leaves_nothing_behind_either(tmp_path):
    root = tmp_path / "sessions"
    with pytest.raises(TypeError):  # a programming error: not reworded as a disk's
        SessionDir.create(root, "Side event", START, extra={"unsaveable": object()})
    assert list(root.iterdir()) == []
