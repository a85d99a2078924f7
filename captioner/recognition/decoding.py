"""One decoding pass of the live worker, in the ASR executor: the language chosen,
the audio decoded (in both languages where they are disputed), the guards applied.

The live worker (:mod:`captioner.recognition.live`) submits a :class:`PassDecoder`
call for every pass and hands its :class:`PassResult` to the streaming policy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from captioner.events import SAMPLE_RATE, Segment, Word
from captioner.recognition.asr import WhisperEngine, window_for
from captioner.recognition.duel import duel, reading
from captioner.recognition.guards import clean_segments
from captioner.recognition.language import LanguageChoice, pick_language
from captioner.recognition.schedule import LiveParams

log = logging.getLogger("captioner.recognition.live")


@dataclass(frozen=True)
class PassResult:
    """What one pass heard.

    Attributes:
        words: The words the guards kept.
        lang: The language they are in.
        settled: Whether that language is settled; None when it was given, not
            identified.
        rejected: Why the guards dropped segments (:func:`guards.clean_segments`).
        held_s: Speech surely in another language that the speaker's hint kept out.
        tried: Every language the pass was decoded in (two after a duel).
    """

    words: list[Word]
    lang: str
    settled: bool | None
    rejected: tuple[str, ...] = ()
    held_s: float = 0.0
    tried: tuple[str, ...] = ()

    @property
    def decodes(self) -> int:
        """Decoder runs the pass took (``bench.simulate`` charges each one)."""
        return max(len(self.tried), 1)


@dataclass(frozen=True)
class _Decoded:
    segments: list[Segment]
    words: list[Word]
    rejected: tuple[str, ...]


class PassDecoder:
    """Decodes passes for one input (called in the ASR executor).

    Provisional passes use the shortest encoder window that fits and greedy decoding
    (fast); the final pass of an utterance, whose words are committed as they stand,
    uses a longer window (``final_window_s``), where Whisper is less prone to loops,
    and the configured beam (``beam_size``).

    Where the language is not given and identification disagrees with the language
    the rules picked (the previous utterance's, held), or the rules follow
    identification away from the previous utterance's language before the switch is
    settled, the pass is decoded in both languages and the model's own scores choose
    (:func:`captioner.recognition.duel.duel`). Not while a speaker's declared language
    is set: that hint, which keeps a short quote from flipping the input, decides.
    """

    def __init__(self, input_id: str, engine: WhisperEngine, params: LiveParams) -> None:
        self.input_id = input_id
        self.engine = engine
        self.params = params

    def __call__(self, audio: np.ndarray, offset_s: float, lang: str | None,
                 prompts: dict[str, str], hotwords: str = "", final: bool = False,
                 previous: str | None = None, speech_s: float = 0.0,
                 gap_s: float = float("inf"), hint: str | None = None,
                 held_s: float = 0.0) -> PassResult:
        window_s = (self.params.final_window_s if final else None) or window_for(
            len(audio) / SAMPLE_RATE, self.params.window_margin_s)
        if lang is not None:
            decoded = self._decode(audio, offset_s, lang, prompts, hotwords, final, window_s)
            return PassResult(decoded.words, lang, None, decoded.rejected, tried=(lang,))
        guess = self.engine.detect_language(audio, window_s)
        choice = pick_language(guess.lang, guess.probability, previous, speech_s, gap_s,
                               final=final, rule=self.params.language, hint=hint,
                               held_s=held_s)
        log.debug("%s: language %s (p=%.2f on %.1f s of speech, previous %s, pause %.1f s)"
                  " -> %s%s", self.input_id, guess.lang, guess.probability, speech_s,
                  previous, gap_s, choice.lang, "" if choice.settled else ", unsettled")
        other = next((x for x in self.engine.languages if x != choice.lang), None)
        disputed = (self.params.duel and hint is None and other is not None
                    and (guess.lang != choice.lang
                         or (previous is not None and previous != choice.lang
                             and not choice.settled)))
        decoded = self._decode(audio, offset_s, choice.lang, prompts, hotwords, final,
                               window_s, keep_encoding=disputed)
        if not disputed:
            return PassResult(decoded.words, choice.lang, choice.settled, decoded.rejected,
                              choice.held_s, tried=(choice.lang,))
        return self._duel(audio, offset_s, prompts, hotwords, final, window_s, choice,
                          decoded, other, guess.lang, speech_s)

    def _duel(self, audio: np.ndarray, offset_s: float, prompts: dict[str, str],
              hotwords: str, final: bool, window_s: int, choice: LanguageChoice,
              first: _Decoded, other: str, identified: str, speech_s: float) -> PassResult:
        second = self._decode(audio, offset_s, other, prompts, hotwords, final, window_s)
        readings = {choice.lang: reading(choice.lang, first.segments, len(first.words)),
                    other: reading(other, second.segments, len(second.words))}
        verdict = duel(readings[choice.lang], readings[other], identified,
                       margin=self.params.duel_margin,
                       settle_margin=self.params.duel_settle_margin)
        lang = verdict.winner.lang
        settled = (choice.settled or final if lang == choice.lang else final) or (
            verdict.settles and speech_s >= self.params.language.same_speech_s)
        log.debug("%s: duel %s", self.input_id, " vs ".join(
            f"{r.lang} {r.logprob:.2f} ({r.words} words)" for r in readings.values())
            + f" -> {lang}{'' if settled else ', unsettled'}")
        kept = first if lang == choice.lang else second
        rejected = kept.rejected if kept.words else first.rejected + second.rejected
        return PassResult(kept.words, lang, settled, rejected,
                          choice.held_s if lang == choice.lang else 0.0,
                          tried=(choice.lang, other))

    def _decode(self, audio: np.ndarray, offset_s: float, lang: str,
                prompts: dict[str, str], hotwords: str, final: bool, window_s: int,
                keep_encoding: bool = False) -> _Decoded:
        prompt = prompts.get(lang, "")
        kwargs = {"keep_encoding": True} if keep_encoding else {}
        segments, _ = self.engine.transcribe(
            audio, lang, offset_s=offset_s,
            beam_size=self.params.beam_size if final else 1, prompt=prompt,
            word_timestamps=True, temperature=0.0, condition_on_previous_text=False,
            hotwords=hotwords or None, window_s=window_s,
            no_repeat_ngram_size=self.params.no_repeat_ngram,
            one_window=self.params.one_window, **kwargs)
        end_s = offset_s + len(audio) / SAMPLE_RATE
        rejected: list[str] = []
        words = clean_segments(segments, prompt, end_s, rejected)
        if not words and segments and log.isEnabledFor(logging.DEBUG):
            for seg in segments:
                log.debug("%s: dropped %r in %s (logprob %.2f, no-speech %.2f, "
                          "compression %.2f)", self.input_id, seg.text, lang,
                          seg.avg_logprob, seg.no_speech_prob, seg.compression_ratio)
        return _Decoded(segments, words, tuple(rejected))
