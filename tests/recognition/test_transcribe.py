"""Offline transcription's spans, language per chunk and retries, with a scripted engine."""

from __future__ import annotations

import numpy as np
import pytest

from captioner.events import Segment, Word
from captioner.recognition import transcribe
from captioner.recognition.asr import LanguageGuess
from captioner.recognition.transcribe import Dropped, Span, join_chunks, transcribe_audio, uncovered

SR = 16000


def s(seconds: float) -> int:
    return int(seconds * SR)


def test_close_chunks_join_but_never_across_a_change_of_language():
    chunks = [(s(0), s(4), "ru"), (s(4.4), s(6), "ru"),   # one speaker: joined
              (s(6.5), s(9), "en"),                        # 0.5 s later, English: not
              (s(9.3), s(9.8), None),                      # too short to tell: joins
              (s(10.2), s(12), "en")]
    spans = join_chunks(chunks)
    assert [(sp.start, sp.end, sp.lang) for sp in spans] == [
        (s(0), s(6), "ru"), (s(6.5), s(12), "en")]
    assert spans[1].chunks == ((s(6.5), s(9)), (s(9.3), s(9.8)), (s(10.2), s(12)))
    # Far apart or too long together: separate, whatever the language.
    assert len(join_chunks([(s(0), s(2), "en"), (s(3), s(5), "en")])) == 2
    assert len(join_chunks([(s(0), s(15), "en"), (s(15.2), s(25), "en")])) == 2


def seg(text: str, start_s: float, end_s: float, lang: str) -> Segment:
    words = text.split()
    step = (end_s - start_s) / len(words)
    return Segment(text, start_s, end_s, lang, tuple(
        Word(f" {w}", start_s + i * step, start_s + (i + 1) * step)
        for i, w in enumerate(words)))


def test_uncovered_finds_runs_of_speech_no_word_overlaps():
    chunks = ((s(0), s(2)), (s(2.3), s(3.0)), (s(3.2), s(4.0)), (s(4.2), s(4.6)),
              (s(5), s(5.5)))
    heard = [seg("one two", 0.2, 1.8, "ru"), seg("three", 4.25, 4.5, "ru")]
    # 0.7 + 0.8 s of speech between the words: one run; the last 0.5 s alone is short.
    assert uncovered(chunks, heard) == [(s(2.3), s(4.0))]
    assert uncovered(chunks, heard, min_s=0.4) == [(s(2.3), s(4.0)), (s(5), s(5.5))]
    assert uncovered(chunks, [seg("a b c d", 0.0, 5.5, "ru")]) == []


class ScriptedEngine:
    """Says what the script has for each (start_s, language) it is asked to decode."""

    languages = ("ru", "en")

    def __init__(self, script: dict, guesses: dict) -> None:
        self.script, self.guesses, self.calls = script, guesses, []

    def detect_language(self, audio, window_s=None) -> LanguageGuess:
        return LanguageGuess(self.guesses[round(len(audio) / SR, 1)], 0.9)

    def transcribe(self, audio, language, offset_s=0.0, **kwargs):
        key = (round(offset_s, 1), language)
        self.calls.append(key)
        lang = language or "ru"
        return list(self.script.get(key, [])), lang


def run(engine, chunks, monkeypatch) -> tuple[list[Segment], list[Dropped]]:
    def spans(audio, identify=None, **kwargs):
        langs = [identify(audio[a:b]) if identify else None for a, b in chunks]
        return join_chunks([(a, b, lang) for (a, b), lang in zip(chunks, langs, strict=True)])

    monkeypatch.setattr(transcribe, "speech_spans", spans)
    dropped: list[Dropped] = []
    out, _ = transcribe_audio(engine, np.zeros(s(20), dtype=np.float32), None, 1,
                              dropped=dropped)
    return out, dropped


def test_each_language_is_decoded_in_its_own_span(monkeypatch):
    chunks = [(s(1), s(6)), (s(6.4), s(10.4))]  # Russian, then 0.4 s later English
    engine = ScriptedEngine({(1.0, "ru"): [seg("добрый день", 1.0, 5.8, "ru")],
                             (6.4, "en"): [seg("thank you minister", 6.4, 10.2, "en")]},
                            guesses={5.0: "ru", 4.0: "en"})
    out, dropped = run(engine, chunks, monkeypatch)
    assert [x.text for x in out] == ["добрый день", "thank you minister"]
    assert engine.calls == [(1.0, "ru"), (6.4, "en")] and dropped == []


def test_speech_a_span_left_unread_is_decoded_again_then_in_the_other_language(monkeypatch):
    # One span (the chunks are too close to split and of one identified language), but
    # decoding it stops after its first chunk: the rest is decoded on its own, where it
    # is identified (ru again, nothing), then in the other language.
    chunks = [(s(1), s(5)), (s(5.3), s(9.3))]
    engine = ScriptedEngine({(1.0, "ru"): [seg("добрый день", 1.0, 4.8, "ru")],
                             (5.3, "en"): [seg("thank you minister", 5.3, 9.0, "en")]},
                            guesses={4.0: "ru"})
    out, dropped = run(engine, chunks, monkeypatch)
    assert engine.calls == [(1.0, "ru"), (5.3, None), (5.3, "en")]
    assert [x.text for x in out] == ["добрый день", "thank you minister"]
    assert dropped == []


def test_speech_nothing_can_read_is_reported_not_lost_silently(monkeypatch):
    chunks = [(s(1), s(5)), (s(5.3), s(9.3))]
    engine = ScriptedEngine({(1.0, "ru"): [seg("добрый день", 1.0, 4.8, "ru")]},
                            guesses={4.0: "ru"})
    out, dropped = run(engine, chunks, monkeypatch)
    assert [x.text for x in out] == ["добрый день"]
    assert dropped == [Dropped(5.3, 9.3, "no words")]


def test_a_forced_language_is_never_second_guessed(monkeypatch):
    chunks = ((s(1), s(5)), (s(5.3), s(9.3)))
    engine = ScriptedEngine({(1.0, "en"): [seg("good day", 1.0, 4.8, "en")]}, guesses={})
    monkeypatch.setattr(transcribe, "speech_spans", lambda audio, identify=None, **kw:
                        [Span(chunks[0][0], chunks[1][1], None, chunks)])
    dropped: list[Dropped] = []
    transcribe_audio(engine, np.zeros(s(20), dtype=np.float32), "en", 1, dropped=dropped)
    assert engine.calls == [(1.0, "en"), (5.3, "en")]  # identified nowhere, no other
    assert dropped == [Dropped(5.3, 9.3, "no words")]


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_a_single_language_engine_identifies_nothing(lang, monkeypatch):
    class OneLanguage(ScriptedEngine):
        languages = (lang,)

        def detect_language(self, audio, window_s=None):
            raise AssertionError("one language: nothing to identify")

    engine = OneLanguage({(1.0, None): [seg("x y", 1.0, 4.8, lang)]}, guesses={})
    out, dropped = run(engine, [(s(1), s(5))], monkeypatch)
    assert [x.text for x in out] == ["x y"] and dropped == []
