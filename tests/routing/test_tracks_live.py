"""Track routing with the real Whisper model on two-channel recordings (floor + booth).

Each session is synthesised like the demo recording (scripts/make_demo.py): the floor
channel carries a speaker, the booth channel the interpretation into the other
language, starting about 2 s after the speaker. With no machine translation, each
language track must be fed by the input that speaks that language.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from captioner.events import SAMPLE_RATE, Caption, Status
from captioner.inputs.audio import decode_file
from captioner.inputs.sources import FileSource
from captioner.room.pipeline import LivePipeline
from captioner.routing.tracks import TrackRouter
from captioner.synth import write_wav
from tests.textnorm import cer, wer

pytestmark = pytest.mark.integration

LAG_S = 2.0

# (floor clip, booth clip): English speaker with Russian interpretation, and the reverse.
SESSIONS = {
    "en-floor": ("en_water", "ru_water"),
    "ru-floor": ("ru_welcome", "en_welcome"),
}


def two_channel(floor: np.ndarray, booth: np.ndarray, lag_s: float = LAG_S) -> np.ndarray:
    """Floor speech from 0.5 s on channel 0, the booth from 0.5 s + ``lag_s`` on channel 1."""
    start = int(0.5 * SAMPLE_RATE)
    booth_start = start + int(lag_s * SAMPLE_RATE)
    total = max(start + len(floor), booth_start + len(booth)) + SAMPLE_RATE
    out = np.zeros((total, 2), np.float32)
    out[start:start + len(floor), 0] = floor
    out[booth_start:booth_start + len(booth), 1] = booth
    return out


@pytest.fixture(scope="module", params=sorted(SESSIONS))
def session(request, clips, tmp_path_factory):
    floor_name, booth_name = SESSIONS[request.param]
    floor, booth = clips[floor_name], clips[booth_name]
    audio = two_channel(decode_file(floor.path), decode_file(booth.path))
    path = write_wav(tmp_path_factory.mktemp("tracks") / f"{request.param}.wav", audio)
    return path, floor, booth


def run_session(engine, path) -> list[Caption | Status]:
    events: list[Caption | Status] = []
    pipeline = LivePipeline(
        engine, FileSource(path, channels={"floor": 0, "booth": 1}, speed=4), [events.append],
        sources_label={"floor": "floor", "booth": "interpretation"},
        router=TrackRouter(translate=False), translation=None)
    asyncio.run(pipeline.run())
    return events


def committed(events, lang: str) -> list[Caption]:
    return [e for e in events if isinstance(e, Caption) and e.final and e.lang == lang]


def score(lang: str, reference: str, hypothesis: str) -> float:
    return cer(reference, hypothesis) if lang == "ru" else wer(reference, hypothesis)


def test_each_track_is_fed_by_the_input_speaking_its_language(engine, session):
    path, floor, booth = session
    events = run_session(engine, path)
    assert isinstance(events[-1], Status) and events[-1].state == "stopped"

    floor_track = committed(events, floor.lang)
    booth_track = committed(events, booth.lang)
    assert floor_track and booth_track
    # The floor's language is the floor's: the booth is not shown there ...
    assert {(c.source, c.input_id) for c in floor_track} == {("floor", "floor")}
    # ... and the other language comes from the booth, as interpretation.
    assert {(c.source, c.input_id) for c in booth_track} == {("interpretation", "booth")}
    assert not [e for e in events if isinstance(e, Caption) and e.source == "machine"]

    bound = {"ru": 0.15, "en": 0.25}
    floor_text = " ".join(c.text for c in floor_track)
    booth_text = " ".join(c.text for c in booth_track)
    assert score(floor.lang, floor.text, floor_text) <= bound[floor.lang], floor_text
    assert score(booth.lang, booth.text, booth_text) <= bound[booth.lang], booth_text

    # The booth lags the floor: its captions start after the interpreter does.
    assert min(c.start_s for c in booth_track) >= 0.5 + LAG_S - 1.2
    seqs = [e.seq for e in events if isinstance(e, Caption) and e.final]
    assert seqs == list(range(1, len(seqs) + 1))
