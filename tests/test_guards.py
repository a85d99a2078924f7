from captioner.events import Segment, Word
from captioner.guards import (
    clean_segments,
    cut_repetitions,
    is_hallucination,
    segment_is_reliable,
    strip_prompt_echo,
)


def seg(text, **kw):
    ws = tuple(Word(" " + t, i * 0.3, i * 0.3 + 0.25) for i, t in enumerate(text.split()))
    base = dict(start_s=0.0, end_s=3.0, lang="en", words=ws, avg_logprob=-0.3,
                no_speech_prob=0.05, compression_ratio=1.2)
    base.update(kw)
    return Segment(text=text, **base)


def test_known_hallucinations():
    for text in ["Thank you for watching!", "Продолжение следует...",
                 "Субтитры сделал DimaTorzok", "[Music]", "(аплодисменты)", "♪", ""]:
        assert is_hallucination(text), text
    assert not is_hallucination("Thank you for watching the water levels in the Aral Sea")
    assert not is_hallucination("Продолжение следует после перерыва на кофе в три часа")


def test_weak_phrases_kept_only_when_confident():
    assert is_hallucination("Thank you.")
    assert not is_hallucination("Thank you.", confident=True)


def test_unreliable_segments():
    assert segment_is_reliable(seg("a real sentence"))
    assert not segment_is_reliable(seg("la la la", compression_ratio=3.1))
    assert not segment_is_reliable(seg("murmur", avg_logprob=-1.6))
    assert not segment_is_reliable(seg("hmm", no_speech_prob=0.9, avg_logprob=-0.8))


def test_repetition_loops_are_cut():
    ws = [Word(" " + t, i, i + 0.5) for i, t in enumerate("we will we will we will we will go".split())]
    assert " ".join(w.text.strip() for w in cut_repetitions(ws)) == "we will we will go"
    same = [Word(" the", i, i + 0.5) for i in range(10)]
    assert len(cut_repetitions(same)) == 2


def test_prompt_echo_is_stripped():
    ws = [Word(" " + t, i, i + 0.5) for i, t in enumerate("of the Paris Agreement and now".split())]
    out = strip_prompt_echo(ws, "We signed the goals of the Paris Agreement")
    assert [w.text.strip() for w in out] == ["and", "now"]
    assert strip_prompt_echo(ws, "") == ws


def test_clean_segments_drops_bad_and_keeps_good():
    good = seg("water is scarce")
    out = clean_segments([seg("Thank you for watching"), good,
                          seg("noise", compression_ratio=4.0)])
    assert [w.text.strip() for w in out] == ["water", "is", "scarce"]


def test_phrase_echo_is_cut():
    from captioner.guards import cut_phrase_echo

    text = "however due to the slow channels however due to the slow channels however"
    ws = [Word(" " + t, i, i + 0.5) for i, t in enumerate(text.split())]
    assert " ".join(w.text.strip() for w in cut_phrase_echo(ws)) == \
        "however due to the slow channels"
    stutter = [Word(" " + t, i, i + 0.5) for i, t in enumerate("we we need water".split())]
    assert cut_phrase_echo(stutter) == stutter


def test_words_after_the_audio_are_dropped():
    late = seg("water is scarce")
    out = clean_segments([late], audio_end_s=0.5)
    assert [w.text.strip() for w in out] == ["water", "is"]
