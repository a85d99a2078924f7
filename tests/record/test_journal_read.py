"""captioner.record.journal_read: torn tails, damaged lines and missing journals."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

from captioner.delivery.wire import caption_from_dict, caption_to_dict, encode
from captioner.errors import CaptionerError
from captioner.events import Caption, Speaker, Status
from captioner.record.journal import Journal
from captioner.record.journal_read import read_journal

T0_NS = 1_746_075_600_000_000_000


def cap(seq: int) -> Caption:
    return Caption(id=f"u{seq}", final=True, lang="ru", text=f"Фраза {seq}, line.",
                   start_s=seq * 2.0, end_s=seq * 2.0 + 1.5, emitted_ns=T0_NS + seq * 10**9,
                   source="floor", seq=seq)


def test_torn_last_line_is_skipped_with_warning(tmp_path, caplog):
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        journal.append(cap(1))
        journal.append(cap(2))
    with path.open("ab") as fh:
        fh.write(encode(cap(3)).encode()[:40])  # a crash in the middle of a write
    with caplog.at_level(logging.WARNING, logger="captioner.record.journal_read"):
        read = read_journal(path)
    assert read.torn_tail
    assert read.bad_lines == []
    assert [c.seq for c in read.captions] == [1, 2]
    assert read.valid_size == len((encode(cap(1)) + "\n" + encode(cap(2)) + "\n").encode())
    assert any("cut off" in r.getMessage() for r in caplog.records)


def test_complete_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text(encode(cap(1)) + "\n" + encode(cap(2)), encoding="utf-8")
    read = read_journal(path)
    assert [c.seq for c in read.captions] == [1, 2] and not read.torn_tail


def test_corrupt_lines_in_the_middle_are_reported(tmp_path, caplog):
    path = tmp_path / "j.jsonl"
    good = [encode(cap(i)) for i in range(1, 6)]
    body = [good[0], "{not json", good[1], "", "[1, 2]", good[2], '{"type": "caption"}',
            "\x00\x00\x00", good[3], '{"type": "future_thing", "x": 1}', good[4]]
    path.write_bytes(("\n".join(body) + "\n").encode() + b"\xff\xfe\n")
    with caplog.at_level(logging.WARNING, logger="captioner.record.journal_read"):
        read = read_journal(path)
    assert read.bad_lines == [2, 5, 7, 8, 12]
    assert [c.seq for c in read.captions] == [1, 2, 3, 4, 5]
    assert not read.torn_tail
    assert sum("damaged" in r.getMessage() for r in caplog.records) == 5


def test_missing_journal_is_a_clear_error(tmp_path):
    with pytest.raises(CaptionerError, match="no such journal"):
        read_journal(tmp_path / "nope.jsonl")


def test_the_speaker_and_its_change_are_journaled_and_read_back(tmp_path):
    path = tmp_path / "j.jsonl"
    minister = Speaker("H.E. Гульнара Асанова", "Minister")
    with Journal(path) as journal:
        journal.append(cap(1))
        journal.append(Status("speaker_set", T0_NS, detail={
            "name": minister.name, "role": minister.role, "by": "operator"}))
        journal.append(dataclasses.replace(cap(2), speaker=minister))
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert "speaker" not in lines[0]
    assert lines[2]["speaker"] == {"name": "H.E. Гульнара Асанова", "role": "Minister"}
    read = read_journal(path)
    assert [c.speaker for c in read.captions] == [None, minister]
    assert [(s.state, s.detail["name"]) for s in read.statuses] == [
        ("speaker_set", minister.name)]


@pytest.mark.parametrize("value", [None, "Bob", {"role": "x"}, {"name": ""}, {"name": 5}])
def test_a_speaker_that_is_not_one_is_read_as_none(value):
    msg = caption_to_dict(cap(1))
    msg["speaker"] = value
    assert caption_from_dict(msg).speaker is None
    msg["speaker"] = {"name": "Ann", "role": 7}
    assert caption_from_dict(msg).speaker == Speaker("Ann", "")
