"""captioner.record.journal: round trip, resume, fsync policy, kill -9 and full disk."""

from __future__ import annotations

import errno
import json
import logging
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from captioner.delivery.wire import caption_to_dict, encode, status_to_dict
from captioner.errors import CaptionerError
from captioner.events import Caption, Status
from captioner.record.journal import Journal, is_journaled
from captioner.record.journal_read import read_journal

REPO = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).resolve().parents[1] / "journal_writer.py"
T0_NS = 1_746_075_600_000_000_000


def cap(seq: int, lang: str = "ru", text: str | None = None, final: bool = True) -> Caption:
    return Caption(id=f"u{seq}", final=final, lang=lang, text=text or f"Фраза {seq}, line.",
                   start_s=seq * 2.0, end_s=seq * 2.0 + 1.5, emitted_ns=T0_NS + seq * 10**9,
                   source="floor", seq=seq if final else None)


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


# -- format ----------------------------------------------------------------------------


def test_round_trip(tmp_path):
    path = tmp_path / "journal.jsonl"
    events = [Status("session_started", T0_NS), cap(1), cap(2, "en", 'He said "<b>" & left'),
              Status("input_lost", T0_NS + 5, "booth", {"at_s": 4.5, "reason": "unplugged"}),
              cap(3)]
    with Journal(path) as journal:
        assert all(journal.append(e) for e in events)
        assert journal.healthy and journal.error is None and journal.last_seq == 3
    assert lines_of(path) == [encode(e) for e in events]
    read = read_journal(path)
    assert [caption_to_dict(c) for c in read.captions] == [
        caption_to_dict(e) for e in events if isinstance(e, Caption)]
    assert [status_to_dict(s) for s in read.statuses] == [
        status_to_dict(e) for e in events if isinstance(e, Status)]
    assert read.bad_lines == [] and not read.torn_tail and read.last_seq == 3


def test_partials_are_not_journaled(tmp_path):
    with Journal(tmp_path / "j.jsonl") as journal:
        with pytest.raises(ValueError):
            journal.append(cap(1, final=False))
    assert not is_journaled(cap(1, final=False))
    assert is_journaled(cap(1))
    assert is_journaled(Status("input_lost", T0_NS))
    assert not is_journaled(Status("levels", T0_NS))


@pytest.mark.parametrize("state", ["session_resumed", "translation_available",
                                   "translation_degraded", "recording_error", "recording_ok"])
def test_what_a_run_announces_about_its_record_and_translation_is_journaled(state):
    assert is_journaled(Status(state, T0_NS))


@pytest.mark.parametrize("state", ["translation_error", "translation_dropped", "warning"])
def test_live_only_troubles_stay_out_of_the_record(state):
    assert not is_journaled(Status(state, T0_NS))


def test_text_with_line_separators_stays_one_line(tmp_path):
    path = tmp_path / "j.jsonl"
    text = "one\u2028two\u0085three\nfour"
    with Journal(path) as journal:
        journal.append(cap(1, text=text))
    assert path.read_bytes().count(b"\n") == 1
    assert read_journal(path).captions[0].text == text


# -- resume ----------------------------------------------------------------------------


def test_constructor_refuses_a_journal_with_lines(tmp_path):
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        journal.append(cap(1))
    with pytest.raises(CaptionerError, match="already has lines") as err:
        Journal(path)
    assert "open_existing" in (err.value.hint or "")


def test_resume_truncates_torn_tail_and_continues_seq(tmp_path, caplog):
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        for seq in (1, 2, 3):
            journal.append(cap(seq))
    torn = encode(cap(4)).encode()[:25]
    with path.open("ab") as fh:
        fh.write(torn)
    with caplog.at_level(logging.WARNING, logger="captioner.record.journal"):
        journal = Journal.open_existing(path)
    copies = list(tmp_path.glob("journal.jsonl.torn-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == torn
    assert journal.last_seq == 3
    assert journal.resumed_from is not None and journal.resumed_from.torn_tail
    with journal:
        assert journal.append(Status("session_resumed", T0_NS + 99))
        assert journal.append(cap(journal.last_seq + 1))
    read = read_journal(path)
    assert [c.seq for c in read.captions] == [1, 2, 3, 4]
    assert read.bad_lines == [] and not read.torn_tail
    assert [s.state for s in read.statuses] == ["session_resumed"]


def test_resume_adds_missing_newline(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text(encode(cap(1)), encoding="utf-8")  # complete, no newline
    with Journal.open_existing(path) as journal:
        assert journal.last_seq == 1
        journal.append(cap(2))
    assert [c.seq for c in read_journal(path).captions] == [1, 2]
    assert not list(tmp_path.glob("*.torn-*"))


def test_open_existing_on_missing_or_empty_file_starts_fresh(tmp_path):
    with Journal.open_existing(tmp_path / "new.jsonl") as journal:
        assert journal.last_seq is None and journal.resumed_from is None
        journal.append(cap(1))
    (tmp_path / "empty.jsonl").touch()
    with Journal.open_existing(tmp_path / "empty.jsonl") as journal:
        assert journal.last_seq is None


# -- durability policy -----------------------------------------------------------------


def test_fsync_at_most_every_half_second(tmp_path, monkeypatch):
    import captioner.record.journal as journal_mod

    synced: list[float] = []
    clock = FakeClock()
    real_fsync = os.fsync
    journal = Journal(tmp_path / "j.jsonl", clock=clock)
    monkeypatch.setattr(journal_mod.os, "fsync", lambda fd: (synced.append(clock.now),
                                                              real_fsync(fd)))
    for step in range(5):  # 0.0 .. 0.4 s after opening: no fsync yet
        clock.now = 100.0 + step * 0.1
        journal.append(cap(step + 1))
    assert synced == []
    assert (tmp_path / "j.jsonl").read_text().count("\n") == 5  # already in the kernel
    clock.now = 100.5
    journal.append(cap(6))
    assert synced == [100.5]
    clock.now = 100.7
    journal.append(cap(7))
    assert synced == [100.5]
    assert journal.sync() is True
    assert synced == [100.5, 100.7]
    assert journal.sync() is True  # nothing new written: no fsync
    assert synced == [100.5, 100.7]
    journal.append(cap(8))
    journal.close()
    assert synced == [100.5, 100.7, 100.7]
    journal.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        journal.append(cap(9))


def folder_fsync_failing(code: int):
    """An ``os.fsync`` that fails with ``code`` for folders and works for files."""
    real = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(code, os.strerror(code))
        real(fd)

    return fsync


def test_a_folder_that_cannot_be_synced_is_fine_but_a_failing_one_is_an_error(tmp_path,
                                                                               monkeypatch):
    monkeypatch.setattr(os, "fsync", folder_fsync_failing(errno.EINVAL))
    with Journal(tmp_path / "a.jsonl") as journal:  # e.g. a network filesystem
        assert journal.append(cap(1))
    monkeypatch.setattr(os, "fsync", folder_fsync_failing(errno.EIO))
    opened = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    with pytest.raises(CaptionerError, match="cannot open the journal.*disk I/O error"):
        Journal(tmp_path / "b.jsonl")
    if opened is not None:
        assert len(os.listdir("/proc/self/fd")) == opened  # the descriptor was closed


def _read_reported(proc: subprocess.Popen, until: int, timeout_s: float) -> list[int]:
    """Seqs the child printed, reading until one is >= ``until``."""
    fd = proc.stdout.fileno()
    buf = b""
    seqs: list[int] = []
    deadline = time.monotonic() + timeout_s
    while not seqs or seqs[-1] < until:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(0.0, left))
        if not ready:
            proc.kill()
            pytest.fail(f"writer reported only {len(seqs)} seqs: {proc.stderr.read()!r}")
        chunk = os.read(fd, 65536)
        if not chunk:
            pytest.fail(f"writer exited early: {proc.wait()} {proc.stderr.read()!r}")
        buf += chunk
        *done, buf = buf.split(b"\n")
        seqs.extend(int(x) for x in done if x)
    return seqs


def test_kill_9_loses_nothing_that_was_appended(tmp_path):
    path = tmp_path / "journal.jsonl"
    proc = subprocess.Popen([sys.executable, str(WRITER), "captions", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(),
                            cwd=REPO)
    try:
        reported = _read_reported(proc, until=300, timeout_s=120)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # Lines printed before the kill may still sit in the pipe.
        rest = proc.stdout.read()
        reported += [int(x) for x in rest.split(b"\n") if x.strip()]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    read = read_journal(path)
    journaled = {c.seq for c in read.captions}
    assert set(reported) <= journaled
    assert read.bad_lines == []
    # Whatever else is there is the contiguous run of appends the child did not live
    # to report.
    assert sorted(journaled) == list(range(1, len(journaled) + 1))


# -- full disk -------------------------------------------------------------------------


def _mount_tmpfs(folder: Path, size: str) -> bool:
    """Mounts a small tmpfs (root in a container that allows it); False if not allowed."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, check=False)
    return done.returncode == 0


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB file system, or a skip where mounting is not permitted (the RLIMIT_FSIZE
    test below covers the same path without privileges)."""
    folder = tmp_path / "tiny"
    if not _mount_tmpfs(folder, "64k"):
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def fill_disk(folder: Path) -> Path:
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 512)
        except OSError:
            pass
    return filler


def test_full_disk_keeps_lines_in_memory_and_recovers(tiny_disk, caplog):
    path = tiny_disk / "journal.jsonl"
    journal = Journal(path)
    for seq in range(1, 6):
        assert journal.append(cap(seq))
    filler = fill_disk(tiny_disk)
    results = []
    with caplog.at_level(logging.ERROR, logger="captioner.record.journal"):
        for seq in range(6, 60):
            results.append(journal.append(cap(seq, text="Длинная реплика " * 8)))
    assert False in results
    first_fail = results.index(False)
    assert not any(results[first_fail:])  # order is kept: nothing overtakes the backlog
    assert journal.healthy is False
    assert "disk full" in (journal.error or "")
    assert journal.pending == len(results) - first_fail
    assert journal.sync() is False
    # What is on disk is still one whole JSON object per line: a short write was undone.
    on_disk = read_journal(path)
    assert on_disk.bad_lines == [] and not on_disk.torn_tail
    assert [c.seq for c in on_disk.captions] == list(range(1, 6 + first_fail))
    assert any("disk full" in r.getMessage() for r in caplog.records)

    filler.unlink()  # the operator frees space
    assert journal.sync() is True
    assert journal.healthy and journal.error is None and journal.pending == 0
    assert journal.append(cap(60))
    journal.close()
    read = read_journal(path)
    assert [c.seq for c in read.captions] == list(range(1, 61))
    assert read.bad_lines == [] and not read.torn_tail


def test_full_backlog_drops_and_counts(tiny_disk):
    journal = Journal(tiny_disk / "j.jsonl", max_backlog_bytes=2000)
    filler = fill_disk(tiny_disk)
    for seq in range(1, 40):
        assert journal.append(cap(seq)) is False
    assert 0 < journal.pending < 39
    assert journal.dropped == 39 - journal.pending
    assert "dropped" in (journal.error or "")
    kept = journal.pending
    filler.unlink()
    assert journal.sync() is True
    assert journal.append(cap(40))
    journal.close()
    # The oldest lines were kept, so the record stays in order with a visible seq gap.
    seqs = [c.seq for c in read_journal(tiny_disk / "j.jsonl").captions]
    assert seqs == [*range(1, kept + 1), 40]


def test_file_size_limit_in_a_subprocess(tmp_path):
    """Disk full without privileges: RLIMIT_FSIZE makes writes fail with EFBIG."""
    path = tmp_path / "journal.jsonl"
    done = subprocess.run([sys.executable, str(WRITER), "fsize", str(path), "4096"],
                          capture_output=True, text=True, env=child_env(), cwd=REPO,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["first_failed"] is not None
    assert seen["later"] == [False, False, False]
    assert seen["healthy"] is False
    assert "file size limit" in seen["error"]
    assert seen["pending"] == 4
    assert seen["synced"] is True and seen["healthy_after"] is True
    assert seen["error_after"] is None and seen["pending_after"] == 0
    read = read_journal(path)
    assert [c.seq for c in read.captions] == list(range(1, seen["last_seq"] + 1))
    assert read.bad_lines == [] and not read.torn_tail
