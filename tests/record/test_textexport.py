"""captioner.record.textexport: the Markdown and JSON documents."""

from __future__ import annotations

import json
import re

import pytest

from captioner.record.docexport import export_session
from captioner.record.journal_read import read_journal
from captioner.record.session import SessionDir
from tests.sessiontools import Maker, conference, exported, make_session


@pytest.fixture
def session(tmp_path) -> SessionDir:
    return make_session(tmp_path / "sessions", conference(Maker()))


def test_markdown_has_header_sources_and_gaps(session):
    export_session(session.path, formats=("md",))
    md = exported(session, ".md").read_text(encoding="utf-8")
    assert md.startswith("# Климат и вода\n")
    assert "- **Date:** 2025-05-01" in md
    assert "- **Time:** 10:00:00 – 11:02:03 (UTC+05:00)" in md
    assert "- **Times:** since the session start" in md
    assert re.search(r"^\*\*\[00:00:01\] RU · floor\*\* \S", md, re.MULTILINE)
    assert re.search(r"^\*\*\[00:00:01\] EN · machine translation\*\* \S", md, re.MULTILINE)
    assert re.search(r"^\*\*\[\d\d:\d\d:\d\d\] EN · interpretation\*\* Booth:", md,
                     re.MULTILINE)
    assert "booth input lost (device unplugged)" in md
    assert "booth input restored after 3.2 s" in md
    stamps = re.findall(r"^\*\*\[(\d\d:\d\d:\d\d)\]", md, re.MULTILINE)
    assert stamps == sorted(stamps)


def test_json_holds_every_committed_caption(session):
    export_session(session.path, formats=("json",))
    data = json.loads(exported(session, ".json").read_text(encoding="utf-8"))
    journal = read_journal(session.journal_path)
    assert sorted(c["seq"] for c in data["captions"]) == [c.seq for c in journal.captions]
    starts = [c["start_s"] for c in data["captions"]]
    assert starts == sorted(starts)  # in time order, like the documents
    assert all(c["type"] == "caption" and c["final"] for c in data["captions"])
    assert data["session"]["title"] == "Климат и вода"
    assert data["session"]["started_at"] == "2025-05-01T10:00:00.000+05:00"
    assert [e["state"] for e in data["events"]] == ["input_lost", "input_restored"]
    assert data["journal"] == {"bad_lines": [], "torn_tail": False}
