"""Who spoke, in the exports: names at each change of speaker in every format, the
programme at the top of the documents, and speakers kept by a re-transcription."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import timedelta

import pytest

from captioner.events import Caption, Speaker
from captioner.programme import Programme, ProgrammeItem, ProgrammeSpeaker, programme_to_data
from captioner.record.docexport import export_session
from captioner.record.session import SessionDir
from captioner.record.transcript import carry_speakers, speaker_heads
from tests.sessiontools import START, Maker, exported

MODERATOR = Speaker("Dr. Aliya Seitkali", "Moderator")
BANKER = Speaker("Michael Turner", "Asian Development Bank")
PROGRAMME = Programme((
    ProgrammeItem("Opening", "15:00", "15:10",
                  (ProgrammeSpeaker(MODERATOR.name, MODERATOR.role, "ru"),)),
    ProgrammeItem("The bank's presentation", "15:10", "15:30",
                  (ProgrammeSpeaker(BANKER.name, BANKER.role, "en"),)),
))


def said(make: Maker, speaker: Speaker | None, lang: str, text: str, start_s: float,
         source: str = "floor") -> Caption:
    return dataclasses.replace(make(lang, text, start_s, start_s + 2.0, source),
                               speaker=speaker)


@pytest.fixture
def session(tmp_path) -> SessionDir:
    make = Maker()
    events = [
        said(make, None, "ru", "Проверка микрофона.", 0.0),
        said(make, MODERATOR, "ru", "Добрый день, уважаемые коллеги.", 4.0),
        said(make, MODERATOR, "en", "Good afternoon, dear colleagues.", 5.0,
             "interpretation"),
        said(make, MODERATOR, "ru", "Добро пожаловать в павильон.", 7.0),
        said(make, MODERATOR, "en", "Welcome to the pavilion.", 8.0, "interpretation"),
        said(make, BANKER, "en", "Our bank is ready to support water projects.", 12.0),
        said(make, BANKER, "ru", "Наш банк готов поддержать водные проекты.", 12.5,
             "machine"),
        said(make, BANKER, "en", "Thank you.", 15.0),
    ]
    folder = SessionDir.create(tmp_path / "sessions", "Вода", START,
                               programme=programme_to_data(PROGRAMME))
    with folder.open_journal() as journal:
        for event in events:
            assert journal.append(event)
    folder.close(START + timedelta(minutes=30))
    return folder


def test_the_programme_is_saved_in_the_session_folder(session, tmp_path):
    saved = json.loads((session.path / "programme.json").read_text(encoding="utf-8"))
    assert saved == {"items": programme_to_data(PROGRAMME)}
    assert SessionDir.open(session.path).programme() == programme_to_data(PROGRAMME)
    bare = SessionDir.create(tmp_path / "other", "x", START)
    assert not (bare.path / "programme.json").exists() and bare.programme() is None
    (bare.path / "programme.json").write_text("{not json", encoding="utf-8")
    assert bare.programme() is None  # the documents go without it


def test_vtt_has_voices_and_srt_a_name_at_each_change(session):
    export_session(session.path, formats=("srt", "vtt"), langs=("ru", "en"))
    en_vtt = exported(session, ".en.vtt").read_text(encoding="utf-8")
    cues = en_vtt.split("\n\n")[1:]
    assert any(f"<v {MODERATOR.name}>Good afternoon" in cue for cue in cues)
    assert any(f"<v {BANKER.name}>Our bank" in cue for cue in cues)
    assert any(f"<v {BANKER.name}>Thank you." in cue for cue in cues)
    ru_vtt = exported(session, ".ru.vtt").read_text(encoding="utf-8")
    first = next(cue for cue in ru_vtt.split("\n\n") if "Проверка" in cue)
    assert "<v" not in first  # nobody was set at first
    srt = exported(session, ".ru.srt").read_text(encoding="utf-8")
    assert f"{MODERATOR.name}: Добрый" in srt.replace("\n", " ")
    assert srt.count(f"{MODERATOR.name}:") == 1  # at the change, not on every cue
    assert srt.count(f"{BANKER.name}:") == 1 and "<v" not in srt


def test_markdown_and_text_name_the_speaker_at_each_change(session):
    export_session(session.path, formats=("md", "txt"), langs=("ru", "en"))
    md = exported(session, ".md").read_text(encoding="utf-8")
    programme = md[md.index("## Programme"):md.index("## Transcript")]
    assert "**15:00–15:10 Opening**" in programme
    assert f"- {MODERATOR.name}, {MODERATOR.role} (ru)" in programme
    transcript = md[md.index("## Transcript"):]
    assert transcript.count(f"**{MODERATOR.name}** _({MODERATOR.role})_:") == 2  # ru, en
    assert transcript.count(f"**{BANKER.name}**") == 2
    line = next(x for x in transcript.splitlines() if "Добрый день" in x)
    assert f"**{MODERATOR.name}**" in line
    assert f"**{MODERATOR.name}**" not in next(
        x for x in transcript.splitlines() if "Добро пожаловать" in x)
    txt = exported(session, ".en.txt").read_text(encoding="utf-8")
    paragraphs = txt.strip().split("\n\n")
    assert paragraphs[0].split("] ", 1)[1].startswith(f"{MODERATOR.name}: Good afternoon")
    assert paragraphs[-1].split("] ", 1)[1].startswith(f"{BANKER.name}: Our bank")


def test_docx_shows_the_programme_and_a_bold_name_at_each_change(session):
    docx = pytest.importorskip("docx")
    export_session(session.path, formats=("docx",), langs=("ru", "en"))
    document = docx.Document(io.BytesIO(exported(session, ".docx").read_bytes()))
    texts = [p.text for p in document.paragraphs]
    assert "Programme" in texts
    assert "15:10–15:30 The bank's presentation" in texts
    assert f"{BANKER.name}, {BANKER.role} (en)" in texts
    (table,) = document.tables
    bold = {}
    for row in table.rows[1:]:
        for lang, cell in zip(("ru", "en"), row.cells[1:], strict=True):
            for para in cell.paragraphs:
                for run in para.runs:
                    if run.bold:
                        bold.setdefault(lang, []).append(run.text)
    assert bold == {"ru": [MODERATOR.name, BANKER.name], "en": [MODERATOR.name, BANKER.name]}


def test_json_carries_the_speaker_of_each_caption_and_the_programme(session):
    export_session(session.path, formats=("json",), langs=("ru", "en"))
    body = json.loads(exported(session, ".json").read_text(encoding="utf-8"))
    assert body["programme"] == programme_to_data(PROGRAMME)
    speakers = [c.get("speaker") for c in body["captions"]]
    assert speakers[0] is None
    assert speakers[1] == {"name": MODERATOR.name, "role": MODERATOR.role}
    assert speakers[-1] == {"name": BANKER.name, "role": BANKER.role}


def test_speaker_heads_mark_the_changes_per_language():
    make = Maker()
    caps = [said(make, MODERATOR, "ru", "a", 0), said(make, MODERATOR, "en", "b", 1),
            said(make, MODERATOR, "ru", "c", 2), said(make, None, "ru", "d", 3),
            said(make, MODERATOR, "ru", "e", 4), said(make, BANKER, "en", "f", 5)]
    assert speaker_heads(caps) == [MODERATOR, MODERATOR, None, None, MODERATOR, BANKER]


def test_a_re_transcription_keeps_the_live_speakers():
    make = Maker()
    live = [said(make, None, "ru", "a", 0.0), said(make, MODERATOR, "ru", "b", 4.0),
            said(make, BANKER, "en", "c", 12.0),
            said(make, MODERATOR, "en", "x", 5.0, "interpretation")]
    clean = [make("ru", "a b", 3.5, 6.0),  # its middle is in the moderator's utterance
             make("en", "c", 11.8, 14.0), make("ru", "early", -1.0, 0.5),
             make("en", "booth", 4.0, 7.0, "interpretation")]
    got = [c.speaker for c in carry_speakers(clean, live)]
    assert got == [MODERATOR, BANKER, None, MODERATOR]
