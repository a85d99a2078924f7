"""captioner.record.docexport: a session's journal exported to every format."""

from __future__ import annotations

import json
import re

import pytest

from captioner.config import CaptionsConfig
from captioner.delivery.wire import caption_to_dict
from captioner.errors import CaptionerError
from captioner.events import Caption
from captioner.layout import MIN_GAP_S
from captioner.record.docexport import (
    FORMATS,
    captions_config,
    export_command,
    export_session,
)
from captioner.record.journal_read import read_journal
from captioner.record.session import SessionDir
from tests.sessiontools import (
    EN_WORDS,
    T0_NS,
    Maker,
    conference,
    exported,
    make_session,
    parse_srt,
    sentence,
)

CFG = CaptionsConfig()
EPS = 1e-3


@pytest.fixture
def session(tmp_path) -> SessionDir:
    return make_session(tmp_path / "sessions", conference(Maker()))


def test_export_writes_every_format(session):
    report = export_session(session.path)
    names = sorted(p.name for p in report.paths)
    stem = session.name
    assert names == sorted([f"{stem}.{lang}.{fmt}" for lang in ("ru", "en")
                            for fmt in ("srt", "vtt", "txt")]
                           + [f"{stem}.md", f"{stem}.docx", f"{stem}.json"])
    assert all(p.parent == session.path / "export" and p.stat().st_size for p in report.paths)
    assert report.bad_lines == [] and not report.torn_tail and report.empty_langs == []
    assert not list(session.export_dir.glob(".*"))  # no temporary files left


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_srt_and_vtt_follow_the_timing_and_line_rules(session, lang):
    export_session(session.path, formats=("srt", "vtt"), langs=(lang,))
    cues = parse_srt(exported(session, f".{lang}.srt").read_text(encoding="utf-8"))
    assert len(cues) > 12
    limit = 39 if lang == "ru" else 42
    for i, (start, end, lines) in enumerate(cues):
        assert 1 <= len(lines) <= CFG.max_lines
        assert all(len(line) <= limit for line in lines)
        nxt = cues[i + 1][0] if i + 1 < len(cues) else None
        assert end > start
        if nxt is not None:
            assert end <= nxt + EPS  # no overlaps
        limited_by_next = nxt is not None and end >= nxt - MIN_GAP_S - EPS
        if not limited_by_next:
            assert end - start >= CFG.min_duration_s - EPS
            wanted = min(len(" ".join(lines)) / CFG.max_cps, CFG.max_duration_s)
            assert end - start >= wanted - EPS
    text = " ".join(" ".join(lines) for _, _, lines in cues)
    other = re.compile("[a-z]" if lang == "ru" else "[а-я]")
    assert not other.search(text.lower())  # one language per file
    vtt = exported(session, f".{lang}.vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\n\n")
    assert len(re.findall(r"^\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}$", vtt,
                          re.MULTILINE)) == len(cues)


def test_vtt_escapes_markup(tmp_path):
    make = Maker()
    session = make_session(tmp_path, [make("en", "Use <b> & x --> y now.", 1.0, 3.0)])
    export_session(session, formats=("vtt", "srt"), langs=("en",))
    vtt = exported(session, ".en.vtt").read_text(encoding="utf-8")
    assert "Use &lt;b&gt; &amp; x --&gt; y now." in vtt
    assert "Use <b> & x --> y now." in exported(session, ".en.srt").read_text(encoding="utf-8")


def test_only_committed_captions_are_exported(tmp_path):
    make = Maker()
    session = make_session(tmp_path, [make("ru", "Окончательный текст.", 1.0, 3.0)])
    partial = caption_to_dict(Caption("p1", False, "ru", "Черновик который исчез", 4.0, 5.0,
                                      T0_NS, revision=2))
    with session.journal_path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(partial, ensure_ascii=False) + "\n")
    report = export_session(session)
    assert report.captions == 1
    for path in report.paths:
        if path.suffix == ".docx":
            import docx

            text = "\n".join(c.text for t in docx.Document(str(path)).tables
                             for r in t.rows for c in r.cells)
        else:
            text = path.read_text(encoding="utf-8")
        assert "Черновик" not in text, path.name
    assert "Окончательный текст." in exported(session, ".ru.srt").read_text(encoding="utf-8")


def test_wall_clock_shows_the_venue_time(session):
    export_session(session.path, formats=("md", "txt", "json", "srt"), langs=("ru",),
                   wall_clock=True)
    md = exported(session, ".md").read_text(encoding="utf-8")
    assert "**[10:00:01] RU · floor**" in md
    assert "- **Times:** local time of day" in md
    assert exported(session, ".ru.txt").read_text(encoding="utf-8").startswith("[10:00:01] ")
    data = json.loads(exported(session, ".json").read_text(encoding="utf-8"))
    assert data["times"] == "wall_clock" and data["captions"][0]["clock"] == "10:00:01"
    # Subtitles keep media time, so that they still match a recording.
    assert "00:00:01,000 -->" in exported(session, ".ru.srt").read_text(encoding="utf-8")
    export_session(session.path, formats=("md",), langs=("ru",))
    assert "**[00:00:01] RU · floor**" in exported(session, ".md").read_text(encoding="utf-8")


def test_corrupt_journal_exports_the_rest_and_reports_lines(session, capsys):
    lines = session.journal_path.read_bytes().split(b"\n")
    lines[3] = b'{"type": "caption", "final": tru'
    lines[7] = b"\x00\x00garbage"
    session.journal_path.write_bytes(b"\n".join(lines) + b'{"type":"capt')  # torn tail too
    total = len(read_journal(session.journal_path).captions)
    assert export_command(session.path, formats=FORMATS, langs=("ru", "en"),
                          wall_clock=False) == 0
    out, err = capsys.readouterr()
    assert str(exported(session, ".ru.srt")) in out.splitlines()
    assert "skipped 2 damaged line(s): 4, 8" in err
    assert "last line was cut off" in err
    data = json.loads(exported(session, ".json").read_text(encoding="utf-8"))
    assert len(data["captions"]) == total
    assert data["journal"] == {"bad_lines": [4, 8], "torn_tail": True}
    report = export_session(session.path, formats=("srt",))
    assert report.bad_lines == [4, 8] and report.torn_tail


def test_language_without_captions_is_reported(tmp_path, capsys):
    make = Maker()
    session = make_session(tmp_path, [make("ru", "Только по-русски.", 1.0, 2.5)])
    assert export_command(session.path, ("srt", "md"), ("ru", "en"), False) == 0
    _, err = capsys.readouterr()
    assert "no committed en captions" in err
    assert not exported(session, ".en.srt").exists()
    assert exported(session, ".ru.srt").exists()
    assert "en 0" in exported(session, ".md").read_text(encoding="utf-8")


def test_export_errors_are_user_errors(tmp_path, session):
    with pytest.raises(CaptionerError, match="not a captioner session folder"):
        export_command(tmp_path, ("srt",), ("ru",), False)
    with pytest.raises(CaptionerError, match="unknown export format 'pdf'"):
        export_session(session.path, formats=("srt", "pdf"))


def test_layout_settings_come_from_the_session_snapshot(tmp_path):
    make = Maker()
    config = {"captions": {"max_chars_en": 20, "max_lines": 1}, "asr": {"model": "x"}}
    session = make_session(tmp_path, [make("en", sentence(EN_WORDS, 20, 1), 1.0, 8.0)],
                           config=config)
    assert captions_config(session.meta) == CaptionsConfig(max_chars_en=20, max_lines=1)
    export_session(session.path, formats=("srt",), langs=("en",))
    for _, _, lines in parse_srt(exported(session, ".en.srt").read_text(encoding="utf-8")):
        assert len(lines) == 1 and len(lines[0]) <= 20
