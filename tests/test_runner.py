"""``captioner run`` without a model: a resumed session journals where it continues."""

from __future__ import annotations

import asyncio
from pathlib import Path

from captioner.config import Config, SessionConfig, TranslationConfig
from captioner.record.journal import Journal
from captioner.record.journal_read import read_journal
from captioner.record.session import SessionDir
from captioner.runner import RunOptions, run_session
from captioner.synth import silence, write_wav
from tests.journal_writer import caption
from tests.operator_fakes import FakeEngine


def config(engine: str = "auto", **session) -> Config:
    return Config(translation=TranslationConfig(engine=engine),
                  session=SessionConfig(**session))


def resumable(root: Path, captions: int) -> SessionDir:
    """A recorded session whose first run committed ``captions`` captions."""
    session = SessionDir.create(root, "Side event", inputs=["floor"])
    with Journal(session.journal_path) as journal:
        for seq in range(1, captions + 1):
            assert journal.append(caption(seq))
    session.close()
    return SessionDir.open(session.path)


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
