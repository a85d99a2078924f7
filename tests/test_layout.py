"""Unit tests for captioner.layout: line breaking, cue grouping and timing rules."""

from __future__ import annotations

import random

import pytest

from captioner.config import CaptionsConfig
from captioner.events import Word
from captioner.layout import (
    MIN_GAP_S,
    Cue,
    cues_from_text,
    cues_from_words,
    max_chars_for,
    retime,
    rolling_lines,
    wrap_lines,
)

CFG = CaptionsConfig()
EPS = 1e-6

EN_VOCAB = (
    "the a of to and in we our people conference budget important question "
    "international cooperation development everyone today tomorrow really think "
    "government proposal thank you very much I would like to say that this is"
).split()
RU_VOCAB = (
    "и в на с к по о что не мы наш люди конференция бюджет важный вопрос "
    "международное сотрудничество развитие сегодня завтра действительно думаю "
    "правительство предложение спасибо большое хотел бы сказать это"
).split()
PUNCT = ("", "", "", "", "", ",", ".", "?", "!", ";", ":")


def make_words(rng: random.Random, vocab: list[str], n: int, fast: bool = False) -> list[Word]:
    """n words with Whisper-like leading spaces, random punctuation, pauses and speeds."""
    words = []
    t = rng.uniform(0.0, 2.0)
    for _ in range(n):
        text = " " + rng.choice(vocab) + rng.choice(PUNCT)
        dur = rng.uniform(0.05, 0.15) if fast else rng.uniform(0.1, 0.6)
        words.append(Word(text, t, t + dur, rng.random()))
        t += dur + (rng.uniform(0.5, 2.5) if rng.random() < 0.08 else rng.uniform(0.0, 0.1))
    return words


def joined(words: list[Word]) -> str:
    return " ".join(w.text.strip() for w in words)


def check_cues(cues: list[Cue], words: list[Word], limit: int) -> None:
    """The invariants every layout must keep."""
    assert " ".join(c.text for c in cues) == joined(words)
    for cue in cues:
        assert 1 <= len(cue.lines) <= CFG.max_lines
        assert all(len(line) <= limit for line in cue.lines), cue.lines
        assert all(line == line.strip() and line for line in cue.lines)
        assert cue.end_s > cue.start_s
        assert cue.end_s - cue.start_s <= CFG.max_duration_s + EPS
    for prev, nxt in zip(cues, cues[1:], strict=False):
        assert prev.end_s <= nxt.start_s + EPS  # no overlap, in order
    for idx, cue in enumerate(cues):
        dur = cue.end_s - cue.start_s
        room = cues[idx + 1].start_s - MIN_GAP_S if idx + 1 < len(cues) else float("inf")
        capped_by_next = cue.end_s >= room - EPS
        capped_by_max = dur >= CFG.max_duration_s - EPS
        if not (capped_by_next or capped_by_max):
            assert len(cue.text) / dur <= CFG.max_cps + EPS
            assert dur >= CFG.min_duration_s - EPS


def test_max_chars_for_languages():
    assert max_chars_for("en", CFG) == 42
    assert max_chars_for("ru", CFG) == 39
    assert max_chars_for("ru-RU", CFG) == 39
    assert max_chars_for("de", CFG) == 42


def test_cue_text_joins_lines():
    assert Cue(0.0, 1.0, ("hello there,", "general Kenobi")).text == "hello there, general Kenobi"


@pytest.mark.parametrize(("lang", "vocab"), [("en", EN_VOCAB), ("ru", RU_VOCAB)])
@pytest.mark.parametrize("fast", [False, True])
def test_random_sentences_keep_limits_and_words(lang, vocab, fast):
    rng = random.Random(1234 if lang == "en" else 4321)
    limit = 42 if lang == "en" else 39
    for _ in range(60):
        words = make_words(rng, vocab, rng.randint(1, 80), fast=fast)
        cues = cues_from_words(words, lang, CFG)
        check_cues(cues, words, limit)
        # Each cue's lines are exactly what wrap_lines makes of its text.
        for cue in cues:
            assert wrap_lines(cue.text, limit, CFG.max_lines) == cue.lines


def test_empty_input_gives_no_cues():
    assert cues_from_words([], "en", CFG) == []
    assert cues_from_words([Word(" ", 0.0, 0.1), Word("", 0.1, 0.2)], "en", CFG) == []
    assert cues_from_text("   ", 0.0, 3.0, "ru", CFG) == []
    assert wrap_lines("", 42) == ()


def test_wrap_single_line_when_it_fits():
    assert wrap_lines("  Hello   world ", 42) == ("Hello world",)
    assert wrap_lines("x" * 42, 42) == ("x" * 42,)


def test_wrap_returns_none_when_it_cannot_fit():
    assert wrap_lines("word " * 30, 42, 2) is None
    assert wrap_lines("a " + "x" * 43, 42, 2) is None
    assert wrap_lines("alpha beta gamma", 10, 1) is None


def test_wrap_prefers_break_after_punctuation():
    # Breaking after "the proposal" would balance better, but the comma wins.
    text = "As we discussed yesterday, the proposal needs more work before March"
    lines = wrap_lines(text, 42)
    assert lines == ("As we discussed yesterday,", "the proposal needs more work before March")


def test_wrap_prefers_break_after_sentence_end():
    lines = wrap_lines("Thank you very much. Now the next question, please", 42)
    assert lines == ("Thank you very much.", "Now the next question, please")


def test_wrap_avoids_dangling_function_word():
    # The most balanced break would leave "a" at the end of the top line.
    lines = wrap_lines("I think that we should take a look at the numbers together today", 42)
    assert lines == ("I think that we should take a look", "at the numbers together today")


def test_wrap_avoids_dangling_russian_preposition():
    # The most balanced break would leave "на" at the end of the top line.
    lines = wrap_lines("наша делегация приехала на конференцию по вопросам энергетики", 39)
    assert lines == ("наша делегация приехала", "на конференцию по вопросам энергетики")


def test_wrap_is_balanced():
    text = "one two three four five six seven eight nine ten eleven"
    top, bottom = wrap_lines(text, 42)
    assert abs(len(top) - len(bottom)) <= 3


def test_wrap_prefers_bottom_heavy_when_otherwise_equal():
    # Nine 4-letter words: 4+5 and 5+4 words are equally unbalanced (19 vs 24 chars).
    text = "work code test data plan team goal step week"
    top, bottom = wrap_lines(text, 42)
    assert (len(top), len(bottom)) == (19, 24)


def test_wrap_more_lines_when_allowed():
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda"
    lines = wrap_lines(text, 25, 3)
    assert lines is not None and len(lines) == 3
    assert " ".join(lines) == text
    assert all(len(line) <= 25 for line in lines)


def timed(texts: list[str], start: float = 0.0, dur: float = 0.3, gap: float = 0.0) -> list[Word]:
    words, t = [], start
    for text in texts:
        words.append(Word(" " + text, t, t + dur))
        t += dur + gap
    return words


def test_cue_ends_at_sentence_end():
    words = timed(
        "This is the first sentence. And here is a second one that goes on and on "
        "with many more words than one cue can hold".split()
    )
    cues = cues_from_words(words, "en", CFG)
    assert cues[0].text == "This is the first sentence."
    check_cues(cues, words, 42)


def test_cue_ends_at_clause_when_half_full():
    text = (
        "Ladies and gentlemen we are delighted to welcome you here, and we hope "
        "that the next three days will be productive for everyone"
    )
    words = timed(text.split(), dur=0.2)
    cues = cues_from_words(words, "en", CFG)
    assert cues[0].text.endswith("here,")
    check_cues(cues, words, 42)


def test_cue_does_not_end_with_function_word():
    text = " ".join(["word"] * 16 + ["of", "the", "budget"] + ["word"] * 10)
    words = timed(text.split(), dur=0.1)
    cues = cues_from_words(words, "en", CFG)
    assert len(cues) >= 2
    for cue in cues[:-1]:
        assert cue.text.split()[-1] not in {"of", "the"}
    check_cues(cues, words, 42)


def test_cue_ends_at_long_pause():
    first = timed("so we started looking into the numbers and then".split(), dur=0.2)
    second = timed(
        "the committee met again to discuss every single item on the list".split(),
        start=first[-1].end_s + 1.5,
        dur=0.2,
    )
    words = first + second
    cues = cues_from_words(words, "en", CFG)
    assert cues[0].text == joined(first)
    check_cues(cues, words, 42)


def test_max_duration_splits_slow_speech():
    words = timed(["slow"] * 20, dur=0.9, gap=0.1)  # 1 s per word, 20 s of speech
    cues = cues_from_words(words, "en", CFG)
    assert len(cues) >= 3
    for cue in cues:
        assert cue.end_s - cue.start_s <= CFG.max_duration_s + EPS
    check_cues(cues, words, 42)


def test_reading_speed_extends_end_when_there_is_room():
    words = timed("An extremely fast burst of words spoken quickly.".split(), dur=0.05)
    cues = cues_from_words(words, "en", CFG)
    assert len(cues) == 1
    cue = cues[0]
    assert cue.end_s - cue.start_s == pytest.approx(len(cue.text) / CFG.max_cps)
    assert len(cue.text) / (cue.end_s - cue.start_s) <= CFG.max_cps + EPS


def test_reading_speed_not_extended_into_next_cue():
    first = Cue(0.0, 0.5, ("A fairly long first caption that needs time",))
    second = Cue(0.8, 2.5, ("Second.",))
    out = retime([first, second], CFG)
    assert out[0].end_s == pytest.approx(0.8 - MIN_GAP_S)
    assert out[0].end_s < out[1].start_s
    assert out[1].start_s == 0.8


def test_retime_never_shortens_speech_or_overlaps():
    cues = [Cue(0.0, 2.0, ("one",)), Cue(1.5, 3.0, ("two",)), Cue(3.0, 3.2, ("three",))]
    out = retime(cues, CFG)
    assert [c.text for c in out] == ["one", "two", "three"]
    assert out[0].end_s == 2.0
    assert out[1].start_s == 2.0  # moved off the overlap
    assert out[1].end_s == 3.0
    assert out[2].end_s == pytest.approx(4.0)  # minimum duration, nothing after it
    for prev, nxt in zip(out, out[1:], strict=False):
        assert prev.end_s <= nxt.start_s


def test_minimum_duration():
    out = retime([Cue(5.0, 5.2, ("Yes.",))], CFG)
    assert out[0].end_s - out[0].start_s == pytest.approx(CFG.min_duration_s)


def test_max_duration_caps_reading_speed_extension():
    text = "x" * 40
    out = retime([Cue(0.0, 0.1, (text, text, text, text))], CFG)
    assert out[0].end_s - out[0].start_s == pytest.approx(CFG.max_duration_s)


def test_long_single_word_is_alone_and_kept():
    long_word = "https://example.org/a/very/long/path/that/never/ends/anywhere"
    words = timed(["Please", "visit", long_word, "for", "the", "details."])
    cues = cues_from_words(words, "en", CFG)
    assert " ".join(c.text for c in cues) == joined(words)
    alone = [c for c in cues if long_word in c.text]
    assert len(alone) == 1 and alone[0].lines == (long_word,)
    for cue in cues:
        if cue is not alone[0]:
            assert all(len(line) <= 42 for line in cue.lines)


def test_cyrillic_cues():
    text = (
        "Уважаемые коллеги, мы рады приветствовать вас на международной конференции "
        "по вопросам устойчивого развития. Сегодня мы обсудим сотрудничество в области "
        "образования и науки."
    )
    words = timed(text.split(), dur=0.25)
    cues = cues_from_words(words, "ru", CFG)
    check_cues(cues, words, 39)
    assert any(len(c.lines) == 2 for c in cues)
    # The sentence end closes a cue, so the second sentence starts a fresh one.
    assert any(c.text.endswith("развития.") for c in cues)
    assert cues[-1].text == "Сегодня мы обсудим сотрудничество в области образования и науки."


def test_cues_from_text_distributes_time():
    text = "Добрый день. " + "Это длинный машинный перевод речи докладчика. " * 6
    cues = cues_from_text(text, 10.0, 30.0, "ru", CFG)
    assert " ".join(c.text for c in cues) == " ".join(text.split())
    assert cues[0].start_s == 10.0
    # Every cue ends at a sentence end: each sentence fits a cue, so none is split.
    assert all(c.text.endswith("докладчика.") for c in cues)
    assert len(cues) == 6
    assert cues[-1].end_s >= 30.0 - EPS
    for cue in cues:
        assert all(len(line) <= 39 for line in cue.lines)
        assert cue.end_s - cue.start_s <= CFG.max_duration_s + EPS
    for prev, nxt in zip(cues, cues[1:], strict=False):
        assert prev.end_s <= nxt.start_s


def test_cues_from_text_zero_span():
    cues = cues_from_text("Short text here", 3.0, 3.0, "en", CFG)
    assert len(cues) == 1
    assert cues[0].start_s == 3.0 and cues[0].end_s == pytest.approx(4.0)


def test_rolling_lines_keeps_last_lines():
    history = ["The first caption.", "A second caption follows here.", "And a third one."]
    lines = rolling_lines(history, 20, 2)
    assert len(lines) == 2
    assert all(len(line) <= 20 for line in lines)
    assert lines[-1].endswith("third one.")
    everything = rolling_lines(history, 20, 100)
    assert " ".join(everything) == " ".join(" ".join(history).split())
    assert lines == everything[-2:]


def test_rolling_lines_are_stable_when_text_is_appended():
    history = ["one two three four five six seven", "eight nine ten eleven"]
    before = rolling_lines(history, 15, 100)
    after = rolling_lines([*history, "twelve thirteen"], 15, 100)
    assert after[: len(before) - 1] == before[:-1]


def test_rolling_lines_edge_cases():
    assert rolling_lines([], 42, 2) == ()
    assert rolling_lines(["hello"], 42, 0) == ()
    assert rolling_lines(["abcdefghij"], 4, 5) == ("abcd", "efgh", "ij")
