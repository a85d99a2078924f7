"""The live worker's pass decoder with a scripted engine (no model): which passes are
decoded in both languages, which reading is kept, and what is settled."""

from __future__ import annotations

import numpy as np
import pytest

from captioner.events import Segment, Word
from captioner.recognition.decoding import PassDecoder
from captioner.recognition.schedule import LiveParams


def segment(lang: str, text: str, logprob: float) -> Segment:
    words = tuple(Word(f" {w}", 1.0 + i * 0.4, 1.35 + i * 0.4) for i, w in
                  enumerate(text.split()))
    return Segment(text=text, start_s=1.0, end_s=1.0 + 0.4 * len(words), lang=lang,
                   words=words, avg_logprob=logprob)


class ScriptedEngine:
    """Identifies every pass as ``identified`` (p); decodes each language as scripted,
    and records the calls (language, whether the encoding was kept for the next)."""

    languages = ("ru", "en")

    def __init__(self, identified: str, p: float, readings: dict[str, Segment | None]):
        self.guess = type("Guess", (), {"lang": identified, "probability": p})()
        self.readings = readings
        self.calls: list[tuple[str, bool]] = []

    def detect_language(self, audio, window_s):
        return self.guess

    def transcribe(self, audio, language, *, keep_encoding=False, **kwargs):
        self.calls.append((language, keep_encoding))
        seg = self.readings[language]
        return ([seg] if seg else []), language


SPEECH = np.zeros(16000 * 3, dtype=np.float32)
ENGLISH_SPEAKER = {"ru": segment("ru", "аккустный корпус", -1.10),
                   "en": segment("en", "the acoustic corpus was", -0.40)}


def decode(engine, *, previous="ru", speech_s=2.5, gap_s=0.5, final=False, hint=None,
           params=LiveParams()):
    return PassDecoder("floor", engine, params)(
        SPEECH, 0.0, None, {}, final=final, previous=previous, speech_s=speech_s,
        gap_s=gap_s, hint=hint)


def test_a_new_speaker_held_in_the_sticky_language_is_read_in_their_own():
    # English identified (p 0.8: not enough to switch after half a second's pause):
    # the rules keep Russian, the model reads the English far better.
    engine = ScriptedEngine("en", 0.8, ENGLISH_SPEAKER)
    result = decode(engine)
    assert engine.calls == [("ru", True), ("en", False)]  # the encoding decoded twice
    assert (result.lang, result.settled, result.tried) == ("en", True, ("ru", "en"))
    assert " ".join(w.text.strip() for w in result.words) == "the acoustic corpus was"
    assert result.decodes == 2


def test_on_too_little_speech_the_duel_follows_the_model_but_settles_nothing():
    engine = ScriptedEngine("en", 0.8, ENGLISH_SPEAKER)
    result = decode(engine, speech_s=0.6)
    assert (result.lang, result.settled) == ("en", False)


def test_a_speaker_going_on_in_the_language_of_the_input_is_decoded_once():
    engine = ScriptedEngine("ru", 0.99, {"ru": segment("ru", "добрый день", -0.3),
                                          "en": None})
    result = decode(engine)
    assert engine.calls == [("ru", False)]
    assert (result.lang, result.settled, result.decodes) == ("ru", True, 1)


def test_when_the_model_reads_both_alike_the_rules_choice_stands():
    engine = ScriptedEngine("en", 0.8, {"ru": segment("ru", "however due to", -0.64),
                                         "en": segment("en", "however due to", -0.62)})
    result = decode(engine)
    assert (result.lang, result.settled) == ("ru", False)


def test_a_declared_speakers_language_is_not_dueled():
    # The speaker's hint keeps a short quote in its language (issue 21's rule).
    engine = ScriptedEngine("en", 0.97, ENGLISH_SPEAKER)
    result = decode(engine, previous=None, hint="ru", speech_s=1.4)
    assert engine.calls == [("ru", False)]
    assert result.lang == "ru"


@pytest.mark.parametrize("params", [LiveParams(duel=False)])
def test_the_duel_can_be_switched_off(params):
    engine = ScriptedEngine("en", 0.8, ENGLISH_SPEAKER)
    result = decode(engine, params=params)
    assert engine.calls == [("ru", False)]
    assert result.lang == "ru"


def test_a_final_pass_that_reads_in_neither_language_reports_both_reasons():
    engine = ScriptedEngine("en", 0.8, {"ru": segment("ru", "а", -1.6),
                                         "en": segment("en", "uh", -1.5)})
    result = decode(engine, final=True)
    assert result.words == [] and result.tried == ("ru", "en")
    assert result.rejected == ("low confidence", "low confidence")
