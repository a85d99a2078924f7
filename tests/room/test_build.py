"""The room's composition root without a model: start-up statuses of translation, and
a resumed session's captions retained on the bus."""

from __future__ import annotations

import asyncio
import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from captioner.config import Config, SessionConfig, TranslationConfig
from captioner.events import Caption, Speaker, Status
from captioner.record.journal import Journal
from captioner.record.session import SessionDir
from captioner.room.build import RoomPlan, build_room, build_translation
from captioner.routing import argos
from captioner.routing.glossary import Glossary
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
    """A recorded session whose first run committed ``captions`` captions, with a
    speaker set after the first."""
    session = SessionDir.create(root, "Side event", inputs=["floor"])
    with Journal(session.journal_path) as journal:
        for seq in range(1, captions + 1):
            assert journal.append(caption(seq))
            if seq == 1:
                assert journal.append(Status("speaker_set", 5, detail={
                    "name": "Dr. Aliya Seitkali", "role": "Moderator", "language": "ru",
                    "input": "", "by": "operator"}))
    session.close()
    return SessionDir.open(session.path)


async def test_a_resumed_room_numbers_on_and_retains_what_was_said(tmp_path):
    session = resumable(tmp_path, 2)
    with ThreadPoolExecutor(max_workers=1) as executor:
        room = await build_room(config("none", record_audio=False),
                                RoomPlan(resume=str(session.path)), FakeEngine(),
                                FakeSource(("floor",)), executor, tmp_path / "models")
        try:
            got = []
            room.bus.subscribe(lambda published: got.append(published.event), since_seq=0)
            assert [c.seq for c in got] == [1, 2]  # a late viewer catches up on them
            room.pipeline.publish(Status("listening", 1))
            room.pipeline.publish(Caption(id="u3", final=True, lang="en", text="Again.",
                                          start_s=0.0, end_s=1.0, emitted_ns=2))
            assert [e.seq for e in got if isinstance(e, Caption)] == [1, 2, 3]
            assert [s.state for s in got if isinstance(s, Status)] == [
                "listening", "session_resumed"]
            assert room.pipeline.time_offset_s == room.record.record.offset_s
            # The speaker set before the restart still names the floor's captions.
            assert room.controls.speaker_for("floor") == Speaker("Dr. Aliya Seitkali",
                                                                 "Moderator")
            assert room.controls.language_hint("floor") == "ru"
        finally:
            room.record.close()
