"""Sentences: splitting text into sentences and clauses, joining caption fragments."""

from __future__ import annotations

from itertools import pairwise

import pytest

from captioner.routing.sentences import SentenceJoiner, TimedText, split_clauses, split_sentences

# --- sentence splitting -------------------------------------------------------------------


def test_split_sentences():
    text = ("Mr. Smith arrived. Emissions fell by 3.5 percent! Really? "
            "Он сказал: «Хватит.» Бюджет — 5 млн. долларов… Конец")
    assert split_sentences(text) == [
        "Mr. Smith arrived.", "Emissions fell by 3.5 percent!", "Really?",
        "Он сказал: «Хватит.»", "Бюджет — 5 млн. долларов…", "Конец",
    ]
    assert split_sentences("J. R. Tolkien wrote it.") == ["J. R. Tolkien wrote it."]
    assert split_sentences("  ") == []


def test_split_clauses():
    assert split_clauses("First, second; third: fourth — fifth") == [
        "First,", "second;", "third:", "fourth", "— fifth"]
    assert split_clauses("3,5 процента") == ["3,5 процента"]


# --- sentence joiner -------------------------------------------------------------------------


def test_joiner_emits_whole_sentences_with_times():
    j = SentenceJoiner()
    assert j.push("Good afternoon,", 0.0, 1.0) == []
    assert j.push("ladies and gentlemen.", 1.0, 2.0) == [
        TimedText("Good afternoon, ladies and gentlemen.", 0.0, 2.0)]
    assert j.pending == ""
    assert j.push("Today we", 2.5, 3.0) == []
    assert j.push("discuss finance", 3.0, 3.5) == []
    assert j.pending == "Today we discuss finance"
    assert j.flush() == [TimedText("Today we discuss finance", 2.5, 3.5)]
    assert j.flush() == []


def test_joiner_splits_inside_a_fragment_and_interpolates():
    j = SentenceJoiner()
    j.push("We begin", 0.0, 1.0)
    (s,) = j.push("now. Then", 1.0, 2.0)  # "now." is the first half of this fragment
    assert s.text == "We begin now."
    assert s.start_s == 0.0 and s.end_s == pytest.approx(1 + 4 / 9)
    assert j.pending == "Then"
    (rest,) = j.flush()
    assert rest.text == "Then" and rest.start_s == s.end_s and rest.end_s == 2.0


def test_joiner_several_sentences_in_one_fragment():
    j = SentenceJoiner()
    out = j.push("Yes. No! Maybe? Well…", 0.0, 4.0)
    assert [s.text for s in out] == ["Yes.", "No!", "Maybe?", "Well…"]
    assert all(a.end_s == b.start_s for a, b in pairwise(out))
    assert out[-1].end_s == 4.0


def test_joiner_keeps_abbreviations_numbers_and_glues_punctuation():
    j = SentenceJoiner()
    assert j.push("Mr.", 0.0, 0.3) == []
    assert j.push("Smith said 3.5", 0.3, 1.0) == []
    (s,) = j.push(".", 1.0, 1.1)
    assert s.text == "Mr. Smith said 3.5."
    j.push('He said "No', 2.0, 2.5)
    (s,) = j.push('way".', 2.5, 3.0)
    assert s.text == 'He said "No way".'
    assert split_sentences("Is it? No. It is not.") == ["Is it?", "No.", "It is not."]
    assert j.push("   ", 1.1, 1.2) == []


def test_joiner_cuts_long_buffers_at_the_last_clause():
    j = SentenceJoiner(max_span_s=100, max_chars=40)
    assert j.push("Water resources, in the region", 0.0, 2.0) == []
    (s,) = j.push("are shrinking and we", 2.0, 3.0)
    assert s.text == "Water resources,"
    assert j.pending == "in the region are shrinking and we"


def test_joiner_cuts_on_audio_span_whole_when_no_clause():
    j = SentenceJoiner(max_span_s=4.0, max_chars=1000)
    assert j.push("and so on and so", 0.0, 2.0) == []
    (s,) = j.push("forth and so on", 2.0, 4.5)
    assert s == TimedText("and so on and so forth and so on", 0.0, 4.5)
    assert j.pending == ""


def test_joiner_poll_gives_out_stale_text():
    j = SentenceJoiner(max_span_s=4.0)
    j.push("waiting for the rest", 10.0, 11.0)
    assert j.poll(13.0) == []
    assert j.poll(14.0) == [TimedText("waiting for the rest", 10.0, 11.0)]
    assert j.poll(20.0) == []
