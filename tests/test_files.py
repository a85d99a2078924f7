"""captioner.files: atomic writes, folder fsync and their one error policy."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from captioner import files
from captioner.files import atomic_write_bytes, atomic_write_text, fsync_dir


def is_folder(fd: int) -> bool:
    return stat.S_ISDIR(os.fstat(fd).st_mode)


def refusing(code: int, folders_only: bool = False):
    """An ``os.fsync`` that fails with ``code`` (only for folders when ``folders_only``)."""
    real = os.fsync

    def fsync(fd: int) -> None:
        if folders_only and not is_folder(fd):
            real(fd)
            return
        raise OSError(code, os.strerror(code))

    return fsync


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "session.json"
    target.write_bytes(b"old")
    atomic_write_bytes(target, b"new contents\n")
    assert target.read_bytes() == b"new contents\n"
    atomic_write_text(target, "Климат\n")
    assert target.read_text(encoding="utf-8") == "Климат\n"
    assert [p.name for p in tmp_path.iterdir()] == ["session.json"]


def test_text_is_written_as_is(tmp_path):
    atomic_write_text(tmp_path / "a.srt", "one\ntwo\r\n", encoding="utf-8")
    assert (tmp_path / "a.srt").read_bytes() == b"one\ntwo\r\n"


def test_atomic_write_syncs_the_file_then_its_folder(tmp_path, monkeypatch):
    real = os.fsync
    synced: list[tuple[bool, bool]] = []  # (a folder?, the target already in place?)

    def spy(fd: int) -> None:
        synced.append((is_folder(fd), (tmp_path / "x.txt").exists()))
        real(fd)

    monkeypatch.setattr(files.os, "fsync", spy)
    atomic_write_bytes(tmp_path / "x.txt", b"x")
    assert synced == [(False, False), (True, True)]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    target = tmp_path / "session.json"
    target.write_bytes(b"old")
    monkeypatch.setattr(files.os, "fsync", refusing(errno.ENOSPC))
    with pytest.raises(OSError) as err:
        atomic_write_bytes(target, b"new")
    assert err.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["session.json"]


def test_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "missing" / "x.txt", b"x")
    with pytest.raises(FileNotFoundError):
        fsync_dir(tmp_path / "missing")


@pytest.mark.parametrize("code", sorted(files.UNSUPPORTED_DIR_FSYNC))
def test_a_filesystem_that_cannot_sync_folders_is_tolerated(tmp_path, monkeypatch, code):
    monkeypatch.setattr(files.os, "fsync", refusing(code, folders_only=True))
    fsync_dir(tmp_path)  # no error
    atomic_write_bytes(tmp_path / "x.txt", b"x")
    assert (tmp_path / "x.txt").read_bytes() == b"x"


def test_other_folder_fsync_errors_propagate(tmp_path, monkeypatch):
    monkeypatch.setattr(files.os, "fsync", refusing(errno.EIO, folders_only=True))
    with pytest.raises(OSError) as err:
        fsync_dir(tmp_path)
    assert err.value.errno == errno.EIO
    with pytest.raises(OSError) as err:
        atomic_write_bytes(tmp_path / "x.txt", b"x")
    assert err.value.errno == errno.EIO
    # The rename had happened: the new contents are in place, only not known durable.
    assert (tmp_path / "x.txt").read_bytes() == b"x"


def test_a_file_is_not_a_folder(tmp_path):
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        fsync_dir(tmp_path / "f")
