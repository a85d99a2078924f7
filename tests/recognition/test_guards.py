from captioner.events import Segment, Word
from captioner.recognition.guards import (
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
    text = "we will we will we will we will go"
    ws = [Word(" " + t, i, i + 0.5) for i, t in enumerate(text.split())]
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
    from captioner.recognition.guards import cut_phrase_echo

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


def test_a_looping_segment_keeps_the_words_before_the_loop():
    # Seen live on the English lecture: right speech, then a loop; dropping the whole
    # segment left the screen empty for seconds.
    loop = seg("that is to say " * 6, compression_ratio=5.0)
    out = clean_segments([loop])
    assert [w.text.strip() for w in out] == ["that", "is", "to", "say"]
    tail = seg("where we actually are in the journals ____ ____", compression_ratio=3.0)
    assert [w.text.strip() for w in clean_segments([tail])] == [
        "where", "we", "actually", "are", "in", "the", "journals"]
    signs = seg("the 4 % 4 % 4 % 4 %", compression_ratio=3.8)
    assert [w.text.strip() for w in clean_segments([signs])] == ["the", "4", "%"]
    # A high compression ratio with no loop to cut at: dropped, as before.
    assert clean_segments([seg("noise", compression_ratio=4.0)]) == []
    # The other figures still apply to what is kept.
    assert clean_segments([seg("la la la la la la", compression_ratio=3.0,
                               avg_logprob=-1.5)]) == []


def test_words_squeezed_into_no_time_are_cut():
    from captioner.recognition.guards import cut_squeezed

    ws = [Word(" " + t, i * 0.4, i * 0.4 + 0.3) for i, t in enumerate("no account of".split())]
    ws += [Word(" " + t, 1.5, 1.5) for t in "to say much of political philosophy".split()]
    assert [w.text.strip() for w in cut_squeezed(ws)] == ["no", "account", "of"]
    # One or two short words ("a", "I") are normal.
    quick = [Word(" a", 0.0, 0.02), Word(" I", 0.1, 0.12), Word(" see", 0.2, 0.5)]
    assert cut_squeezed(quick) == quick
    echo = [Word(" " + t, 0.0, 0.0) for t in "much of political philosophy".split()]
    echo += [Word(" where", 0.6, 0.9), Word(" we", 0.9, 1.1)]
    assert [w.text.strip() for w in cut_squeezed(echo)] == ["where", "we"]
    # A squeezed repeat of the word before it is the same word; a spoken repeat is not.
    ws = [Word(" account", 17.12, 17.62), Word(" of", 17.62, 18.76), Word(" of", 18.76, 18.76)]
    assert [w.text.strip() for w in cut_squeezed(ws)] == ["account", "of"]
    stutter = [Word(" we,", 0.0, 0.2), Word(" we", 0.4, 0.6), Word(" need", 0.6, 0.9)]
    assert cut_squeezed(stutter) == stutter


def test_a_long_phrase_loop_is_cut_too():
    phrase = "develops theories that tell you what a political philosophy is, "
    out = clean_segments([seg(phrase * 4, compression_ratio=3.5)])
    assert " ".join(w.text.strip() for w in out) == phrase.strip()
