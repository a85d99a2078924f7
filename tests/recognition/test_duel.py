"""The language duel, pure: scored readings in, the reading to keep out."""

from __future__ import annotations

import math

import pytest

from captioner.events import Segment
from captioner.recognition.duel import Reading, duel, reading


def seg(start: float, end: float, logprob: float) -> Segment:
    return Segment(text="x", start_s=start, end_s=end, lang="ru", avg_logprob=logprob)


def test_a_reading_is_scored_by_its_segments_weighted_by_duration():
    scored = reading("en", [seg(0.0, 3.0, -0.3), seg(3.0, 4.0, -1.1)], kept_words=7)
    assert scored == Reading("en", 7, pytest.approx(-0.5))
    assert math.isinf(reading("en", [], 0).logprob)


RU, EN = "ru", "en"


@pytest.mark.parametrize(("chosen", "other", "identified", "winner", "settles"), [
    # The sticky Russian held; the English speaker's words read far better in English.
    (Reading(RU, 3, -1.10), Reading(EN, 5, -0.48), EN, EN, True),
    # ...better, but by less than the settling lead: decoded in, not settled.
    (Reading(RU, 5, -0.70), Reading(EN, 5, -0.40), EN, EN, False),
    # A tie (numerals, English read out in Cyrillic) keeps the rules' choice.
    (Reading(RU, 6, -0.64), Reading(EN, 6, -0.62), EN, RU, False),
    # What the guards dropped whole cannot win...
    (Reading(RU, 4, -0.90), Reading(EN, 0, -0.30), EN, RU, False),
    # ...and a reading with words beats one without.
    (Reading(RU, 0, -1.50), Reading(EN, 7, -0.86), EN, EN, True),
    (Reading(RU, 0, -1.50), Reading(EN, 0, -1.30), EN, RU, False),
    # The rules followed identification (unsettled) and the model agrees: settled.
    (Reading(EN, 5, -0.31), Reading(RU, 0, -1.80), EN, EN, False),
    (Reading(EN, 5, -0.31), Reading(RU, 2, -1.80), EN, EN, True),
    # The rules kept Russian and the model agrees, against identification: Russian,
    # and nothing settled by the duel.
    (Reading(RU, 4, -0.50), Reading(EN, 4, -1.20), EN, RU, False),
])
def test_the_reading_the_model_is_surer_of_wins_by_a_margin(chosen, other, identified,
                                                             winner, settles):
    verdict = duel(chosen, other, identified)
    assert (verdict.winner.lang, verdict.settles) == (winner, settles)
