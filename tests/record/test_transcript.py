"""captioner.record.transcript: which captions a document holds, and in what order."""

from __future__ import annotations

import pytest

from captioner.record.docexport import export_session, load_transcript
from captioner.record.session import SessionDir
from captioner.record.transcript import language_track
from tests.sessiontools import Maker, conference, exported, make_session


@pytest.fixture
def session(tmp_path) -> SessionDir:
    return make_session(tmp_path / "sessions", conference(Maker()))


def test_english_track_prefers_the_booth_over_machine_translation(session):
    export_session(session.path, formats=("srt", "txt"), langs=("en",))
    srt = exported(session, ".en.srt").read_text(encoding="utf-8")
    txt = exported(session, ".en.txt").read_text(encoding="utf-8")
    assert "Booth:" in srt and "Booth:" in txt
    doc, _ = load_transcript(session)
    track = language_track(doc.captions, "en")
    # While the booth talks, the overlapping machine captions are left out...
    booth = [c for c in track if c.source == "interpretation"]
    assert len(booth) == 4
    for c in track:
        if c.source == "machine":
            assert all(min(c.end_s, b.end_s) - max(c.start_s, b.start_s)
                       <= 0.5 * (c.end_s - c.start_s) for b in booth)
    # ...and outside those stretches machine translation is kept.
    assert sum(c.source == "machine" for c in track) >= 8


def test_fragments_of_an_utterance_are_joined_for_documents():
    from captioner.events import Caption
    from captioner.record.transcript import join_utterances

    def cap(seq, cid, text, start, end, source="floor", lang="ru"):
        return Caption(id=cid, final=True, lang=lang, text=text, start_s=start, end_s=end,
                       emitted_ns=0, source=source, seq=seq)

    joined = join_utterances([
        cap(1, "floor-1", "Добрый день,", 0.0, 1.0),
        cap(2, "booth-1", "Good", 0.5, 1.0, "interpretation", "en"),
        cap(3, "floor-1", "уважаемые коллеги.", 1.0, 2.0),
        cap(4, "booth-1", "afternoon.", 1.0, 2.5, "interpretation", "en"),
        cap(5, "floor-2", "Начнём.", 3.0, 4.0),
    ])
    assert [(c.text, c.seq, c.start_s, c.end_s) for c in joined] == [
        ("Добрый день, уважаемые коллеги.", 1, 0.0, 2.0),
        ("Good afternoon.", 2, 0.5, 2.5),
        ("Начнём.", 5, 3.0, 4.0),
    ]
