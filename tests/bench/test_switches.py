"""bench.switches: the panel-like session and its per-utterance scoring (no model)."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
import pytest

from bench.common import BenchClip
from bench.switches import (
    HINTS,
    Utterance,
    _seeds,
    alternate,
    assign,
    bilingual_session,
    build_session,
    commit_times,
    level,
    over_seeds,
    report,
    score,
)
from captioner.events import Caption, Status, Word
from captioner.inputs.audio import decode_file
from captioner.synth import write_wav


def tone(seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_level_sets_the_rms_in_dbfs():
    out = level(tone(1.0), -26.0)
    assert 20 * np.log10(np.sqrt(np.mean(out ** 2))) == pytest.approx(-26.0, abs=0.01)
    assert not level(np.zeros(10, dtype=np.float32), -20.0).any()


def test_languages_alternate_and_clips_are_reused_in_turn():
    clips = [BenchClip(Path(f"{lang}{i}"), lang, "x") for lang in ("ru", "en") for i in range(2)]
    order = alternate(clips, 6, random.Random(3))
    assert [c.lang for c in order] == ["ru", "en"] * 3
    assert order[0] != order[2] and order[0] == order[4]  # each pool goes round in turn
    with pytest.raises(SystemExit, match="both ru and en"):
        alternate(clips[:2], 2, random.Random(0))


def test_the_session_places_each_clip_where_its_audio_is(tmp_path):
    clips = []
    for lang, seconds in (("ru", 1.0), ("en", 0.5)):
        path = write_wav(tmp_path / f"{lang}.wav", tone(seconds))
        clips.append(BenchClip(path, lang, f"{lang} words"))
    path, utts, alone = build_session(clips, 3, seed=2, folder=tmp_path)
    audio = decode_file(path)
    assert [u.lang for u in utts] == ["ru", "en", "ru"] and utts[0].start_s == 1.0
    for utt, samples in zip(utts, alone, strict=True):
        a, b = int(round(utt.start_s * 16000)), int(round(utt.end_s * 16000))
        assert np.abs(audio[a + 10:b - 10]).max() > 0.001  # speech where it says
        assert -35.0 <= utt.level_dbfs <= -15.0
        assert len(samples) == b - a
    for before, after in zip(utts, utts[1:], strict=False):
        gap = after.start_s - before.end_s
        assert 0.5 <= gap <= 2.0
        a, b = int(before.end_s * 16000) + 5, int(after.start_s * 16000) - 5
        assert not audio[a:b].any()  # silence between


def test_the_latency_benchmarks_session_is_scored_clip_by_clip(tmp_path):
    clips = [BenchClip(write_wav(tmp_path / f"{lang}.wav", tone(seconds, 0.1)), lang, ref)
             for lang, seconds, ref in (("ru", 1.0, "один"), ("en", 2.0, None))]
    path, utts, alone = bilingual_session(clips, 5.5 / 60, tmp_path)
    audio = decode_file(path)
    # ru, en, ru: 1 + 1 + 2 + 1 + 1 s, as bench.latency builds it, from its first sample.
    assert [(u.lang, u.start_s, u.end_s) for u in utts] == [
        ("ru", 0.0, 1.0), ("en", 2.0, 4.0), ("ru", 5.0, 6.0)]
    assert len(audio) == 7 * 16000 and len(alone) == 3
    assert utts[1].reference == "" and utts[1].level_dbfs == pytest.approx(-23.0, abs=0.1)
    # Without a reference, a clip is scored against offline's reading of it alone.
    events = [Status("listening", 0),
              committed("en", ("a", 2.1, 2.5), ("tone", 2.6, 3.0), emitted_s=4.0)]
    rows = score(utts, events, 1.0, [], ["один", "a tone", "один"])
    assert rows[1].reference == "a tone" and rows[1].live_err == 0.0


def utts() -> list[Utterance]:
    return [Utterance("a", "ru", "один два три", 1.0, 3.0, -20),
            Utterance("b", "en", "four five six", 4.0, 6.0, -30),
            Utterance("c", "en", "seven eight", 7.0, 8.0, -30)]


def committed(lang: str, *words: tuple[str, float, float], emitted_s: float) -> Caption:
    ws = tuple(Word(f" {t}", s, e) for t, s, e in words)
    return Caption(id="floor-1", final=True, lang=lang, text="".join(w.text for w in ws),
                   start_s=ws[0].start_s, end_s=ws[-1].end_s, emitted_ns=int(emitted_s * 1e9),
                   source="floor", input_id="floor", words=ws)


def test_words_belong_to_the_utterance_they_were_heard_in():
    pairs = [(Word(" x", 1.1, 1.4), "ru"), (Word(" y", 6.1, 6.5), "en"),  # into the pause
             (Word(" z", 6.8, 7.5), "en"), (Word(" w", 0.0, 0.2), "en")]  # before any
    grouped = assign(utts(), pairs)
    assert [[w.text for w, _ in g] for g in grouped] == [[" x"], [" y"], [" z"]]


def test_a_first_word_stretched_back_over_a_short_pause_belongs_where_it_ends():
    # Live passes start a second before the speech, and Whisper stretches the first
    # word back: "Neural" at 3.88-5.06 s for a clip from 4.83 s, after a 0.6 s pause.
    pair = [Utterance("ru", "ru", "сети это хорошо", 1.0, 4.23, -33),
            Utterance("en", "en", "neural networks", 4.83, 6.24, -35)]
    pairs = [(Word(" хорошо.", 2.81, 3.25), "ru"), (Word(" Neural", 3.88, 5.06), "en"),
             (Word(" networks", 5.06, 5.40), "en")]
    assert [[w.text for w, _ in g] for g in assign(pair, pairs)] == [
        [" хорошо."], [" Neural", " networks"]]


def test_scoring_finds_the_lost_utterance_the_wrong_language_and_opening_latency():
    events = [Status("listening", 0),
              committed("ru", ("один", 1.0, 1.5), ("два", 1.5, 2.0), ("три", 2.0, 2.9),
                        emitted_s=4.0),
              # The English utterance committed in Russian, its opening late.
              committed("ru", ("фор", 4.0, 4.5), ("файв", 4.5, 5.0), emitted_s=6.5),
              committed("ru", ("сикс", 5.0, 5.9), emitted_s=7.5)]
    whole = [(Word(" seven eight", 7.0, 8.0), "en")]
    rows = score(utts(), events, 1.0, whole, ["один два три", "four five six", "seven eight"])
    assert [r.captioned for r in rows] == [True, True, False]
    assert [r.lost for r in rows] == [False, False, True]  # offline reads "c" alone
    assert [r.live_lang for r in rows] == ["ru", "ru", None]
    assert rows[0].live_err == 0.0 and rows[1].live_err == 1.0 and rows[2].whole_err == 0.0
    # Latency from a word's end to its commit; within 3 s of the change, or after.
    assert rows[1].opening_latency == pytest.approx([2.0, 1.5, 1.6])
    assert rows[0].opening_latency == pytest.approx([2.5, 2.0, 1.1])
    text = "\n".join(report(rows))
    assert "| 3 | c | en | -30 dBFS | **LOST** | - |" in text
    assert "en: 2 utterances, 1 lost, 1 uncaptioned, language right in 0/2" in text
    assert "ru: 1 utterances, 0 lost, 0 uncaptioned, language right in 1/1" in text
    rows[2].alone_err = 1.0  # offline cannot read it either: its reference is off
    text = "\n".join(report(rows))
    assert "left out of the scores: c" in text
    assert "en: 1 utterances, 0 lost, 0 uncaptioned, language right in 0/1" in text


def test_words_are_told_apart_by_when_they_were_committed():
    utt = [Utterance("a", "ru", "x", 1.0, 9.0, -20)]
    # Two opening words late, eight mid-speech, one by the final pass after the speaker
    # stopped (the VAD ends the utterance 0.5 s into the silence), one just before.
    events = [Status("listening", 0),
              committed("ru", ("a", 1.0, 1.5), ("b", 1.5, 2.0), emitted_s=4.5),
              *(committed("ru", (f"m{i}", 4.0 + i * 0.4, 4.4 + i * 0.4), emitted_s=5.4 + i * 0.4)
                for i in range(8)),
              committed("ru", ("c", 8.5, 8.95), emitted_s=9.4),
              committed("ru", ("d", 8.95, 9.0), emitted_s=9.6)]
    row, = score(utt, events, 1.0, [], ["x"])
    assert [(c.opening, c.stopped) for c in row.commits] == (
        [(True, False)] * 2 + [(False, False)] * 9 + [(False, True)])
    assert row.opening_latency == pytest.approx([3.0, 2.5])
    line = commit_times([row])
    # The p90 of the twelve latencies is 2.5 s; only the first word is above it.
    assert "opening words while the speaker went on 2.75 / 3.00 s (n=2), 1 above" in line
    assert "the rest while the speaker went on 1.00 / 1.00 s (n=9), 0 above" in line
    assert "after the speaker stopped 0.60 / 0.60 s (n=1), 0 above" in line
    assert "by when committed:" in "\n".join(report([row]))


def test_several_seeds_are_summed_up_with_each_excess_and_their_mean():
    def panel(ru_live: float, en_live: float) -> list:
        rows = score(utts()[:2], [Status("listening", 0)], 1.0, [], ["один два три", "four"])
        for row, live in zip(rows, (ru_live, en_live), strict=True):
            row.live_err, row.whole_err, row.alone_err = live, 0.1, 0.1
            row.live_lang, row.live_text = row.utt.lang, row.utt.reference
        return rows

    lines = over_seeds([(1, panel(0.13, 0.11)), (2, panel(0.12, 0.16))])
    assert lines[1] == "over seeds 1, 2:"
    assert lines[2] == "ru: live - whole +3.0 / +2.0 points, mean +2.5"
    assert lines[3] == "en: live - whole +1.0 / +6.0 points, mean +3.5"
    assert lines[4] == "lost 0; language right in 4/4"


def test_seeds_are_a_comma_separated_list():
    assert _seeds("1") == [1] and _seeds("1,2, 3") == [1, 2, 3]
    for bad in ("x", ","):
        with pytest.raises(argparse.ArgumentTypeError):
            _seeds(bad)


def test_the_hints_an_operator_gives():
    utts = [Utterance("a", "ru", "x", 1.0, 4.0, -20.0), Utterance("b", "en", "y", 5.0, 9.0, -20.0)]
    assert HINTS["no hint"](utts) is None
    each = HINTS["each speaker's language"](utts)
    assert [each(t) for t in (0.5, 1.0, 4.5, 5.0, 30.0)] == [None, "ru", "ru", "en", "en"]
    assert HINTS["one Russian speaker"](utts)(6.0) == "ru"
