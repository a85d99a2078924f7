"""A room's composition root and ``captioner run`` without a model: start-up statuses
and resume."""

from __future__ import annotations

import asyncio
import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from captioner.config import Config, SessionConfig, TranslationConfig
from captioner.events import Status
from captioner.record.current import open_record
from captioner.record.journal import Journal
from captioner.record.journal_read import read_journal
from captioner.record.session import SessionDir
from captioner.room.build import RoomPlan, build_translation, record_request
from captioner.routing import argos
from captioner.routing.glossary import Glossary
from captioner.runner import RunOptions, run_session
from captioner.synth import silence, write_wav
from tests.journal_writer import caption
from tests.operator_fakes import FakeEngine, FakeSource


def config(engine: str = "auto", **session) -> Config:
    return Config(translation=TranslationConfig(engine=engine),
                  session=SessionConfig(**session))


def start_up(cfg: Config, store_root: Path) -> list[Status]:
    executor = ThreadPoolExecutor(max_workers=1)
    try:
        _, statuses = asyncio.run(build_translation(
            cfg, FakeEngine(), executor, Glossary(), store_root))
    finally:
        executor.shutdown()
    return statuses


def said(statuses: list[Status]) -> list[tuple[str, str]]:
    return [(s.state, s.detail["lang"]) for s in statuses]


def test_each_direction_says_whether_it_can_be_translated(tmp_path):
    statuses = start_up(config("whisper"), tmp_path)
    # Whisper serves ru->en; nothing serves en->ru.
    assert said(statuses) == [("translation_available", "en"),
                              ("translation_unavailable", "ru")]
    assert statuses[0].detail == {"direction": "ru->en", "lang": "en",
                                  "engine": "whisper-translate"}


@dataclasses.dataclass(frozen=True)
class BrokenPackage:
    path: Path
    from_code: str = "ru"
    to_code: str = "en"
    name: str = "broken ru-en"
    origin: str = "store"


def test_a_broken_package_is_degraded_and_whisper_stands_in(tmp_path, monkeypatch):
    def refuse(package, **kwargs):
        raise RuntimeError("model.bin is not a CTranslate2 model")

    monkeypatch.setattr(argos, "discover_packages", lambda root: [BrokenPackage(tmp_path)])
    monkeypatch.setattr(argos, "ArgosTranslator", refuse)
    statuses = start_up(config("auto"), tmp_path)
    assert said(statuses) == [("translation_degraded", "en"), ("translation_available", "en"),
                              ("translation_unavailable", "ru")]
    assert "CTranslate2" in statuses[0].detail["reason"]
    assert statuses[1].detail["engine"] == "whisper-translate"


def resumable(root: Path, captions: int) -> SessionDir:
    """A recorded session whose first run committed ``captions`` captions."""
    session = SessionDir.create(root, "Side event", inputs=["floor"])
    with Journal(session.journal_path) as journal:
        for seq in range(1, captions + 1):
            assert journal.append(caption(seq))
    session.close()
    return SessionDir.open(session.path)


def test_a_new_record_has_no_resumed_status(tmp_path):
    record = open_record(record_request(config(record_audio=False), RoomPlan(
        session_root=str(tmp_path)), FakeSource(("floor",))))
    try:
        assert record.resumed is None
    finally:
        record.close()


def test_a_resumed_record_says_where_it_continues(tmp_path):
    session = resumable(tmp_path, 3)
    record = open_record(record_request(config(record_audio=False), RoomPlan(
        resume=str(session.path)), FakeSource(("floor",))))
    try:
        status = record.resumed
        assert status is not None and status.state == "session_resumed"
        assert status.detail["name"] == session.name
        assert status.detail["after_seq"] == 3
        assert status.detail["offset_s"] >= 0
    finally:
        record.close()


def test_the_resumed_run_journals_session_resumed_after_listening(tmp_path):
    session = resumable(tmp_path, 2)
    quiet = write_wav(tmp_path / "quiet.wav", silence(1.0))
    opts = RunOptions(input=str(quiet), speed=0, record=True, serve=False,
                      resume=str(session.path))
    assert asyncio.run(run_session(config("none", record_audio=False), opts,
                                   FakeEngine())) == 0
    statuses = [s.state for s in read_journal(session.journal_path).statuses]
    assert statuses == ["session_resumed", "stopped"]
    read = read_journal(session.journal_path)
    assert read.statuses[0].detail["after_seq"] == 2
    assert [c.seq for c in read.captions] == [1, 2]
