"""The language duel: where identification and the input's language disagree, the
pass is decoded in both, and the model's own scores pick the reading.

Language identification looks at the first seconds of a pass and the rules of
:mod:`captioner.recognition.language` weigh it against the previous utterance, so at a
change of speaker the sticky language can win while the new speaker's first words
are decoded in it: Whisper then translates them, or writes nothing the guards keep
("Аккустный корпус." for "the acoustic corpus"). Decoded in both languages, the
model is more certain of the reading in the language really spoken. Measured on the
reference clips of ``../shared/audio`` (the first 1.5 s and 3 s of each, decoded in
Russian and in English): the language spoken scored a mean log-probability 0.2-0.8
higher wherever identification was right, and the other language's text was mostly
dropped by the guards. Numerals and a speaker's English read out in Cyrillic score
close (within 0.2), and there either reading will do.

Pure: scored readings in, a choice out. The live worker's decoder
(:mod:`captioner.recognition.decoding`) runs the second decoding, which reuses the
encoder's output, so a duel costs one more pass of the decoder only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from captioner.events import Segment

# Log-probability lead the other language's reading needs to replace the one the rules
# chose: past the closest gap between a wrong and a right reading measured (0.2).
DUEL_MARGIN = 0.2
# A lead this large, for the language identification named, settles the language
# (with LanguageRule.same_speech_s of speech); the measured leads of the language
# spoken were 0.3-0.8 on 3 s.
SETTLE_MARGIN = 0.4


@dataclass(frozen=True)
class Reading:
    """One decoding of a pass in one language, as the model scored it.

    Attributes:
        lang: The language decoded in.
        words: How many words the guards kept.
        logprob: Mean log-probability per token of the pass's segments, weighted by
            their duration (rejected segments count: a low score is why they were
            rejected); ``-inf`` when the pass had no segment.
    """

    lang: str
    words: int
    logprob: float


def reading(lang: str, segments: Sequence[Segment], kept_words: int) -> Reading:
    """Scores one decoding (see :class:`Reading`)."""
    weights = [max(seg.end_s - seg.start_s, 0.1) for seg in segments]
    total = sum(weights)
    logprob = (sum(w * seg.avg_logprob for w, seg in zip(weights, segments, strict=True))
               / total if total else float("-inf"))
    return Reading(lang, kept_words, logprob)


@dataclass(frozen=True)
class Verdict:
    """The duel's outcome: the reading to keep, and whether it settles the language."""

    winner: Reading
    settles: bool


def duel(chosen: Reading, other: Reading, identified: str, *,
         margin: float = DUEL_MARGIN, settle_margin: float = SETTLE_MARGIN) -> Verdict:
    """Which of two readings of the same audio to keep.

    Args:
        chosen: The reading in the language the rules picked.
        other: The reading in the other language.
        identified: The language identification named.
        margin: The lead ``other`` needs to win: a tie keeps the rules' choice.
        settle_margin: The lead, for the identified language, that settles it.

    A reading with words beats one without; between two without, the rules' choice
    stands. ``settles`` is only ever said of the identified language's reading: the
    model and identification agree.
    """
    if not other.words:
        return Verdict(chosen, False)
    if not chosen.words:
        return Verdict(other, other.lang == identified)
    for winner, loser, needed in ((other, chosen, margin), (chosen, other, 0.0)):
        lead = winner.logprob - loser.logprob
        if lead > needed:
            return Verdict(winner, winner.lang == identified and lead >= settle_margin)
    return Verdict(chosen, False)
