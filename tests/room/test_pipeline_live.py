"""The live pipeline on file sources with the real Whisper model."""

import asyncio
import json

import numpy as np
import pytest

from bench.switches import level
from captioner.events import Caption, Status
from captioner.inputs.audio import decode_file
from captioner.inputs.sources import FileSource
from captioner.room.pipeline import LivePipeline
from captioner.synth import silence, write_wav
from tests.conftest import run_cli
from tests.textnorm import cer, wer

pytestmark = pytest.mark.integration


def run_pipeline(engine, path, speed=4.0):
    events = []
    pipeline = LivePipeline(engine, FileSource(path, speed=speed), [events.append])
    asyncio.run(pipeline.run())
    return events


def committed(events, lang=None):
    return [e for e in events if isinstance(e, Caption) and e.final
            and (lang is None or e.lang == lang)]


def text_of(caps):
    return " ".join(c.text for c in caps)


@pytest.fixture(scope="module")
def bilingual(clips, tmp_path_factory):
    """ru, en, ru, en with pauses: a speaker switching languages between utterances."""
    parts, script = [silence(0.5)], []
    for name in ("ru_welcome", "en_welcome", "ru_water", "en_water"):
        parts += [decode_file(clips[name].path), silence(1.2)]
        script.append(clips[name])
    path = write_wav(tmp_path_factory.mktemp("bi") / "bilingual.wav", np.concatenate(parts))
    return path, script


def test_language_switching_with_right_lang_labels(engine, bilingual):
    path, script = bilingual
    events = run_pipeline(engine, path)
    ru_ref = " ".join(c.text for c in script if c.lang == "ru")
    en_ref = " ".join(c.text for c in script if c.lang == "en")
    assert cer(ru_ref, text_of(committed(events, "ru"))) <= 0.15
    assert wer(en_ref, text_of(committed(events, "en"))) <= 0.25
    seqs = [c.seq for c in committed(events)]
    assert seqs == list(range(1, len(seqs) + 1))
    # Russian comes first, then English, then Russian again: both switches were followed.
    langs = [c.lang for c in committed(events)]
    switches = sum(1 for a, b in zip(langs, langs[1:], strict=False) if a != b)
    assert switches >= 3, langs


def test_partials_precede_commits_and_commits_never_change(engine, clips):
    events = run_pipeline(engine, clips["en_welcome"].path, speed=1.5)
    caps = [e for e in events if isinstance(e, Caption)]
    assert any(not c.final for c in caps), "expected provisional text before commits"
    finals = committed(events)
    assert wer(clips["en_welcome"].text, text_of(finals)) <= 0.25
    # Committed captions cover increasing stretches of audio, without overlap.
    for a, b in zip(finals, finals[1:], strict=False):
        assert b.start_s >= a.end_s - 0.3


def test_silence_and_noise_give_no_captions(engine, tmp_path):
    rng = np.random.default_rng(7)
    audio = np.concatenate([
        silence(3.0),
        (0.05 * rng.standard_normal(16000 * 4)).astype(np.float32),   # hiss
        silence(2.0),
        (0.3 * np.sign(np.sin(np.linspace(0, 2000, 16000 * 2)))).astype(np.float32)  # hum
        * np.linspace(0, 1, 16000 * 2, dtype=np.float32),
        silence(2.0),
    ])
    events = run_pipeline(engine, write_wav(tmp_path / "noise.wav", audio), speed=0)
    assert committed(events) == []
    assert isinstance(events[-1], Status) and events[-1].state == "stopped"


def test_run_print_contract_and_session_record(clips, model_dir, tmp_path):
    sessions = tmp_path / "sessions"
    done = run_cli("run", "--input", str(clips["ru_water"].path), "--print", "--speed", "4",
                   "--sessions", str(sessions), "--port", "0")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["type"] == "status" and lines[0]["state"] == "listening"
    caps = [m for m in lines if m["type"] == "caption"]
    finals = [m for m in caps if m["final"]]
    assert finals
    for m in caps:
        assert {"final", "lang", "text", "start_s", "end_s", "emitted_at", "id"} <= set(m)
        assert 0 <= m["start_s"] <= m["end_s"] <= 20
    floor = [m for m in finals if m["source"] == "floor"]
    assert {m["lang"] for m in floor} == {"ru"}
    # With no Argos package installed, Whisper's speech translation feeds the en track.
    assert {m["lang"] for m in finals if m["source"] == "machine"} <= {"en"}
    unavailable = [m for m in lines if m.get("state") == "translation_unavailable"]
    assert [m["lang"] for m in unavailable] == ["ru"]  # en->ru has no engine here
    available = [m for m in lines if m.get("state") == "translation_available"]
    assert [(m["lang"], m["engine"]) for m in available] == [("en", "whisper-translate")]
    assert all(isinstance(m["seq"], int) for m in finals)
    assert cer(clips["ru_water"].text, " ".join(m["text"] for m in floor)) <= 0.15

    # Every committed caption printed is in the session's journal, and exports from it.
    (session,) = sessions.iterdir()
    journal = [json.loads(line) for line in (session / "journal.jsonl").read_text().splitlines()]
    journaled = [m["text"] for m in journal if m.get("type") == "caption"]
    assert journaled == [m["text"] for m in finals]
    floor = [m for m in finals if m["source"] == "floor"]
    export = run_cli("export", str(session), "--format", "srt,txt", "--lang", "ru")
    assert export.returncode == 0, export.stderr
    srt = next((session / "export").glob("*.ru.srt")).read_text(encoding="utf-8")
    assert cer(clips["ru_water"].text, " ".join(
        line for line in srt.splitlines() if line and not line[0].isdigit())) <= 0.15


def test_identification_and_decoding_share_one_encoder_run(engine, clips):
    audio = decode_file(clips["ru_welcome"].path)[: 16000 * 4]
    model = engine._model
    runs = []
    base = type(model).__mro__[1]  # faster-whisper's WhisperModel
    original = base.encode

    def counting(self, features):
        runs.append(features.shape)
        return original(self, features)

    base.encode = counting
    try:
        guess = engine.detect_language(audio)
        segments, lang = engine.transcribe(audio, guess.lang, window_s=None)
    finally:
        base.encode = original
    assert (guess.lang, lang) == ("ru", "ru")
    assert segments and len(runs) == 1, runs
    # The reuse is only for identical features: other audio is encoded afresh.
    runs.clear()
    base.encode = counting
    try:
        engine.transcribe(audio[: 16000 * 3], "ru", window_s=None)
    finally:
        base.encode = original
    assert len(runs) == 1


def test_one_window_keeps_the_unfinished_segment_instead_of_decoding_again(engine):
    from faster_whisper.tokenizer import Tokenizer

    model = engine._model
    tok = Tokenizer(model.hf_tokenizer, True, task="transcribe", language="en")
    tb = tok.timestamp_begin
    said, cut = tok.encode(" Good morning."), tok.encode(" and wel")
    # A window whose last segment has no closing timestamp (the buffer ends mid-word).
    tokens = [tb, *said, tb + 50, tb + 50, *cut]
    args = (tok, tokens, 0.0, 400, 4.0, 0)
    segments, seek, _ = model._split_segments_by_timestamps(*args)
    assert [s["tokens"] for s in segments] == [[tb, *said, tb + 50]]
    assert seek == 50 * model.input_stride  # faster-whisper would decode again from 1 s
    model.set_one_window(True)
    try:
        segments, seek, single_ending = model._split_segments_by_timestamps(*args)
    finally:
        model.set_one_window(False)
    assert [s["tokens"] for s in segments] == [[tb, *said, tb + 50], [tb + 50, *cut]]
    assert seek == 400 and single_ending  # the window is done


@pytest.mark.parametrize("first, then", [("ru", "en"), ("en", "ru")])
def test_a_change_of_speaker_and_language_commits_both_sentences_in_their_languages(
        engine, clips, first, then):
    # A speaker, a 1 s pause, a quieter one in the other language, on the simulated
    # clock (the same passes every run): every sentence committed, in its language.
    from bench.simulate import CostModel, simulate
    from captioner.recognition.schedule import LiveParams
    from captioner.recognition.streaming import StreamingParams

    a, b = clips[f"{first}_welcome"], clips[f"{then}_water"]
    head = decode_file(a.path)
    audio = np.concatenate([silence(1.0), head, silence(1.0),
                            level(decode_file(b.path), -30.0), silence(1.0)])
    change_s = 1.0 + len(head) / 16000 + 0.5
    events, _ = asyncio.run(simulate(engine, audio, LiveParams(), StreamingParams(),
                                     CostModel()))
    words = [(w, c.lang) for c in committed(events) for w in c.words]
    for clip, part in ((a, [(w, lang) for w, lang in words if w.end_s <= change_s]),
                       (b, [(w, lang) for w, lang in words if w.end_s > change_s])):
        text = "".join(w.text for w, _ in part)
        assert {lang for _, lang in part} == {clip.lang}, (clip.lang, text)
        score = wer(clip.text, text) if clip.lang == "en" else cer(clip.text, text)
        assert score <= (0.25 if clip.lang == "en" else 0.15), text
    assert not [e for e in events if isinstance(e, Status) and e.state == "speech_dropped"]
