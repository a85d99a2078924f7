"""The live worker's schedule: when a pass is due, and where it starts decoding.

Pure: timing parameters and two functions of stream times. The live worker
(:mod:`captioner.recognition.live`) asks them before every pass; ``bench.simulate``
replays them on a simulated clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from captioner.recognition.asr import WINDOW_MARGIN_S
from captioner.recognition.duel import DUEL_MARGIN, SETTLE_MARGIN
from captioner.recognition.language import LanguageRule


@dataclass(frozen=True)
class LiveParams:
    """Timing of the live loop.

    Attributes:
        min_step_s: New audio needed before another pass of the same utterance (see
            :func:`pass_due`).
        first_pass_s: Speech needed before the first pass (and language check).
        preroll_s: Audio kept before the VAD's speech start (word onsets are soft).
        tail_s: Audio kept after the VAD's speech end for the final pass.
        queue_chunks: Bounded audio queue; the oldest chunk is dropped when full.
        language: When an identified language is trusted, against the input's
            previous utterance (:class:`captioner.recognition.language.LanguageRule`).
        beam_size: Decoding beam of an utterance's final pass, the one whose words are
            committed (``asr.beam_size``). Provisional passes are always greedy (beam 1):
            they run every ``min_step_s`` and a wider beam would lengthen every partial.
        window_margin_s: Provisional passes encode the smallest window that holds the
            audio plus this much (Whisper loops more when the audio fills its window).
        no_repeat_ngram: Live passes may not repeat a run of this many tokens (0: off).
            A loop ("that is to say that is to say ...", "______") otherwise runs to
            the token budget: replaying 164 recorded passes of the two lectures and two
            clips, 6 cut decoding time by 11% and passes over 1 s from 24 to 6, and
            changed the text of 8, as often for the better as not (bench/RESULTS.md).
        one_window: Decode each pass in one window; when its text does not end cleanly
            the rest is left to the next pass instead of being decoded again from the
            last word, encoder and all (see
            :func:`captioner.recognition.asr._windowed_model_class`).
        context_s: Every pass reaches back this much before the buffer's start, into
            words of the utterance already committed (found again by their text and
            skipped; the prompt holds only the text before). Decoded from the trim
            point, the buffer's first words had no speech before them, and Whisper
            read them worse: "even in the middle" lost its "in" under every schedule
            (en_fleurs_001). In the simulator, 2 s cost the English lecture 0.15 s
            of median committed latency and 0.3 s of p90 (bench/RESULTS.md).
        final_context_s: The final pass of an utterance decodes at least this much of
            it, reaching back further when needed. After a trim, the rest of an
            utterance can be a sliver: 0.65 s holding "years." at the end of
            en_fleurs_000, where Whisper heard nothing and the word was lost.
        duel: Where identification and the input's language disagree, decode the pass
            in both languages and keep the reading the model scores better
            (:mod:`captioner.recognition.duel`).
        duel_margin: The log-probability lead the other language's reading needs.
        duel_settle_margin: The lead, for the identified language, that settles it.
        final_window_s: Encoder window of an utterance's final pass: 30 (Whisper's own,
            most accurate, slowest), None for the smallest that fits (fastest, loops
            more), or between. 15 s measured best on a 2-core CPU (bench/RESULTS.md).
    """

    min_step_s: float = 0.5
    first_pass_s: float = 0.8
    preroll_s: float = 1.0
    tail_s: float = 0.25
    queue_chunks: int = 600
    language: LanguageRule = LanguageRule()
    beam_size: int = 1
    window_margin_s: float = WINDOW_MARGIN_S
    no_repeat_ngram: int = 6
    one_window: bool = True
    final_window_s: int | None = 15
    context_s: float = 2.0
    final_context_s: float = 3.0
    duel: bool = True
    duel_margin: float = DUEL_MARGIN
    duel_settle_margin: float = SETTLE_MARGIN


# Longer than a spoken word: a word ends within this much before any point of speech.
WORD_S = 1.5


def pass_start(buffer_start_s: float, utterance_start_s: float, end_s: float,
               context_s: float = 0.0, min_s: float = 0.0,
               word_ends: Sequence[float] = ()) -> float:
    """Where a pass over the buffer up to ``end_s`` starts decoding: ``context_s``
    before the buffer's start, and early enough to decode at least ``min_s``; never
    before the utterance's start.

    Reaching back, the pass starts where a committed word ends (``word_ends``) or the
    utterance starts, at most ``WORD_S`` further back. Started inside a word, Whisper
    made "из-за этого" of the tail of "сотрудничества", and the guards dropped the
    whole low-confidence segment with the words after it (ru_welcome).
    """
    target = min(buffer_start_s - context_s, end_s - min_s)
    if buffer_start_s <= target:
        return buffer_start_s
    cuts = [t for t in (utterance_start_s, *word_ends)
            if max(utterance_start_s, target - WORD_S) <= t <= target]
    return max(cuts, default=max(utterance_start_s, target))


# Share of the last pass's time that must have come in as new audio before the next.
PASS_SHARE = 0.8


def pass_due(new_audio_s: float, last_pass_s: float, min_step_s: float) -> bool:
    """Whether enough new audio has come in for another provisional pass.

    At least ``min_step_s``. When passes take longer (a busy CPU, several inputs
    sharing one model), about as much audio as the last pass took, so provisional
    passes thin out and the final passes, which commit, are never starved. About, not
    quite: audio comes in blocks (0.1 s), so right after a pass a little less than its
    duration has come in, and waiting for the rest left the model idle for half a
    block after most passes (50 ms on average in a traced run, 8% of the time).
    """
    return new_audio_s >= min(max(min_step_s, PASS_SHARE * last_pass_s), 3.0)
