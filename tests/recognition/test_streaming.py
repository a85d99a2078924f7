"""The streaming policy as a pure unit, fed scripted hypothesis sequences."""

import pytest

from captioner.events import Word
from captioner.recognition.streaming import StreamingParams, StreamingPolicy


def words(spec: str, start: float = 0.0, step: float = 0.4) -> list[Word]:
    out = []
    for i, text in enumerate(spec.split()):
        out.append(Word(" " + text, start + i * step, start + (i + 1) * step - 0.05))
    return out


def timed(*spec: tuple[str, float, float]) -> list[Word]:
    """Words with the given times: (text, start_s, end_s), as a pass logged them."""
    return [Word(" " + text, start, end) for text, start, end in spec]


def policy(**kw) -> StreamingPolicy:
    """A policy with its language settled. The tests using it are about agreement,
    trimming and the guards; the opening rule (``opening_s``) has tests of its own and
    is off here unless asked for."""
    clock = iter(range(10**6))
    kw.setdefault("opening_s", 0.0)
    p = StreamingPolicy("floor", StreamingParams(**kw), clock_ns=lambda: next(clock))
    p.start_utterance(0.0)
    p.set_language("en", locked=True)
    return p


def finals(caps):
    return [c for c in caps if c.final]


def partials(caps):
    return [c for c in caps if not c.final]


def test_first_hypothesis_is_only_partial():
    p = policy()
    out = p.on_hypothesis(words("good afternoon ladies"), 1.3)
    assert finals(out) == []
    assert [c.text for c in partials(out)] == ["good afternoon ladies"]


def test_agreement_commits_common_prefix_only():
    p = policy()
    p.on_hypothesis(words("good afternoon ladies"), 1.3)
    out = p.on_hypothesis(words("good afternoon ladies and gentle"), 2.1)
    assert [c.text for c in finals(out)] == ["good afternoon ladies"]
    assert [c.text for c in partials(out)] == ["and gentle"]
    # The committed caption comes before the partial that follows it.
    assert out[0].final and not out[1].final


def test_committed_text_is_never_revised_or_repeated():
    p = policy()
    seq = ["good afternoon", "good afternoon ladies", "good afternoon ladies and",
           "good afternoon ladies and gentlemen", "good afternoon ladies and gentlemen today"]
    committed = []
    for i, hyp in enumerate(seq):
        committed += [c.text for c in finals(p.on_hypothesis(words(hyp), 0.5 + 0.5 * i))]
    committed += [c.text for c in finals(p.on_hypothesis(words(seq[-1]), 3.0, final=True))]
    assert " ".join(committed) == "good afternoon ladies and gentlemen today"


def test_disagreement_holds_back_commit():
    p = policy()
    p.on_hypothesis(words("the minister said"), 1.3)
    out = p.on_hypothesis(words("a minister says"), 1.8)
    assert finals(out) == []
    assert partials(out)[0].text == "a minister says"


def test_one_letter_wobble_in_a_long_word_still_agrees():
    p = policy()
    p.on_hypothesis(words("Штирльц сказал"), 1.0)
    out = p.on_hypothesis(words("Штирлиц сказал тихо"), 1.5)
    assert [c.text for c in finals(out)] == ["Штирлиц сказал"]


def test_final_commits_everything_left():
    p = policy()
    p.on_hypothesis(words("water resources"), 1.0)
    p.on_hypothesis(words("water resources are shrinking"), 1.6)
    out = p.on_hypothesis(words("water resources are shrinking fast"), 2.2, final=True)
    assert [c.text for c in finals(out)] == ["are shrinking fast"]
    assert partials(out) == []


def test_partial_and_commit_share_the_utterance_id_and_revisions_grow():
    p = policy()
    a = p.on_hypothesis(words("one two"), 1.0)
    b = p.on_hypothesis(words("one two three"), 1.5)
    ids = {c.id for c in a + b}
    assert ids == {"floor-1"}
    revs = [c.revision for c in partials(a + b)]
    assert revs == sorted(revs) and len(set(revs)) == len(revs)


def test_repeat_of_committed_words_at_buffer_start_is_not_committed_twice():
    p = policy(trim_after_s=1.0)
    p.on_hypothesis(words("we need shared solutions"), 1.7)
    p.on_hypothesis(words("we need shared solutions now"), 2.2)
    # The buffer was trimmed; Whisper repeats the last committed word with shifted times.
    again = words("solutions now and investment", start=1.1)
    out = p.on_hypothesis(again, 3.0, final=True)
    assert [c.text for c in finals(out)] == ["now and investment"]


def test_buffer_is_trimmed_and_bounded_in_long_speech():
    p = policy(trim_after_s=4.0, max_buffer_s=8.0)
    text = " ".join(f"w{i}" for i in range(200))
    every = words(text, step=0.3)
    for n in range(5, 200, 3):
        end = every[n - 1].end_s + 0.05
        visible = [w for w in every[:n] if w.start_s >= p.buffer_start_s - 0.01]
        p.on_hypothesis(visible, end)
        assert end - p.buffer_start_s <= 8.0 + 1.0


def test_hard_cap_commits_when_hypotheses_never_agree():
    p = policy(trim_after_s=4.0, max_buffer_s=6.0)
    committed = []
    for i in range(1, 40):
        end = 0.4 * i
        hyp = [Word(f" x{i}_{j}", j * 0.4, j * 0.4 + 0.35) for j in range(i)
               if j * 0.4 >= p.buffer_start_s]
        committed += finals(p.on_hypothesis(hyp, end))
    assert committed, "a stream that never agrees must still commit old words"
    assert 16.0 - p.buffer_start_s <= 7.0


def test_prompt_holds_only_text_outside_the_buffer():
    p = policy(trim_after_s=100.0)
    p.on_hypothesis(words("first words here"), 1.3)
    p.on_hypothesis(words("first words here now"), 1.8)
    assert p.prompt() == ""  # committed words are still in the buffer
    p.on_hypothesis([], 2.0, final=True)
    p.end_utterance()
    p.start_utterance(5.0)
    p.set_language("en", locked=True)
    assert p.prompt().startswith("first words here")


def test_prompt_is_cut_at_a_word_boundary():
    p = policy(prompt_chars=16)
    p.on_hypothesis(words("the answer that comes back is well"), 3.0, final=True)
    p.end_utterance()
    p.start_utterance(5.0)
    p.set_language("en", locked=True)
    # The last 16 characters start inside "comes"; a word's tail reads as another word.
    assert p.prompt() == "back is well"


def test_languages_keep_separate_prompts():
    p = policy()
    p.on_hypothesis(words("hello there"), 1.0, final=True)
    p.end_utterance()
    p.start_utterance(3.0)
    p.set_language("ru", locked=True)
    assert p.prompt() == ""
    out = p.on_hypothesis(words("добрый день", start=3.0), 4.0, final=True)
    assert out[0].lang == "ru"


def test_nothing_happens_outside_an_utterance():
    p = policy()
    p.on_hypothesis(words("a b"), 1.0, final=True)
    p.end_utterance()
    assert p.on_hypothesis(words("c d"), 2.0) == []


def test_unconfirmed_partial_is_cleared_when_final_pass_hears_nothing():
    p = policy()
    p.on_hypothesis(words("that is"), 1.0)
    out = p.on_hypothesis([], 1.2, final=True)
    assert finals(out) == []
    assert [(c.text, c.final) for c in out] == [("", False)]


def test_agreed_word_at_the_very_end_waits_for_right_context():
    p = policy()
    p.on_hypothesis(words("climate finance"), 0.8)
    # "finance" ends at 0.75 s, only 0.05 s before the decoded audio ends.
    out = p.on_hypothesis(words("climate finance"), 0.8)
    assert [c.text for c in finals(out)] == ["climate"]
    out = p.on_hypothesis(words("climate finance for"), 1.3)
    assert [c.text for c in finals(out)] == ["finance"]


def test_nothing_is_committed_while_the_language_is_unsettled():
    clock = iter(range(10**6))
    p = StreamingPolicy("floor", StreamingParams(), clock_ns=lambda: next(clock))
    p.start_utterance(0.0)
    p.set_language("en", locked=False)
    p.on_hypothesis(words("the water resources"), 1.5)
    out = p.on_hypothesis(words("the water resources of"), 2.5)
    assert finals(out) == []
    # Settled as Russian: the English guesses are dropped, not agreed with.
    p.set_language("ru", locked=True)
    out = p.on_hypothesis(words("водные ресурсы региона"), 3.0)
    assert finals(out) == []
    out = p.on_hypothesis(words("водные ресурсы региона сокращаются"), 3.6)
    assert [c.text for c in finals(out)] == ["водные ресурсы региона"]
    assert {c.lang for c in finals(out)} == {"ru"}


def test_old_words_are_not_committed_unconfirmed_on_the_first_pass_after_a_switch():
    # Seen in the live pipeline: a pass that settled the language as Russian still
    # heard "The water resources of the region are" (decoded after an English prompt);
    # those words were old enough to commit as they stood, with no second pass heard.
    clock = iter(range(10**6))
    p = StreamingPolicy("floor", StreamingParams(stale_after_s=3.0), clock_ns=lambda: next(clock))
    p.start_utterance(0.0)
    p.set_language("en", locked=False)
    p.on_hypothesis(words("water"), 1.4)
    p.set_language("ru", locked=True)
    out = p.on_hypothesis(words("the water resources of the region are growing so"), 6.0)
    assert finals(out) == []
    # From the next pass on, old words are committed as they stand again.
    out = p.on_hypothesis(words("водные ресурсы региона сокращаются поэтому нам нужны"), 4.0)
    assert [c.text for c in finals(out)] == ["водные ресурсы"]


def test_prompt_in_the_language_asked_for():
    p = policy()
    p.on_hypothesis(words("hello there"), 1.0, final=True)
    p.end_utterance()
    p.start_utterance(3.0)
    p.set_language("en", locked=False)  # a guess: the pass may decode in Russian
    assert p.prompt("en").startswith("hello there")
    assert p.prompt("ru") == ""


@pytest.mark.parametrize("previous, current, end_s, committed, settings", [
    # Seen on the English lecture: "How is going to ..." then "Who's going to ...";
    # prefix agreement held the whole sentence back until the latency cap.
    ("How is going to implement a tax", "Who's going to implement a tax now", 2.5,
     ["Who's going to implement a"], {}),
    # Two disputed words in a row are not skipped.
    ("the minister said that water", "a minister says that water is", 2.5, [], {}),
    # Readings that share little, or a word one pass lacks, stop the agreement.
    ("выплачивает дивиденды по всем акциям", "выплачивает DVD по всем акциям в", 2.2,
     ["выплачивает"], {}),
    ("он проторчал здесь уже год", "проторчал здесь уже год и", 2.2, [], {}),
    # With read_alike off, any disputed word stops the agreement.
    ("How is going to implement a tax", "Who's going to implement a tax now", 2.5, [],
     {"read_alike": False}),
])
def test_one_disputed_word_does_not_hold_back_the_words_after_it(
        previous, current, end_s, committed, settings):
    p = policy(**settings)
    p.on_hypothesis(words(previous), 2.0)
    out = p.on_hypothesis(words(current), end_s)
    assert [c.text for c in finals(out)] == committed


@pytest.mark.parametrize("disputed_context_s, committed", [
    (1.5, ["All", "nouns alongside the world say"]),
    (0.0, ["All Niles are more", "world say"]),  # before: a wrong commit
])
def test_a_disputed_word_waits_until_audio_follows_it(disputed_context_s, committed):
    # en_fleurs_001, "All nouns alongside the world...": two early passes read the
    # second word "nails" and "Niles", and went on alike.
    p = policy(disputed_context_s=disputed_context_s)
    out = []
    for hyp, end_s in (("All nails are more tight", 1.95),
                       ("All Niles are more sighted worlds", 2.4),
                       ("All nouns alongside the world say free", 3.1),
                       ("All nouns alongside the world say for you", 3.9)):
        out += p.on_hypothesis(words(hyp, start=0.45, step=0.3), end_s)
    assert [c.text for c in finals(out)] == committed


def test_a_number_ending_the_hypothesis_waits_for_the_next_word():
    # Whisper writes the first half of "шестьсот четырнадцать" as 600, then 614.
    p = policy()
    p.on_hypothesis(words("и Марина 600", start=0.0), 2.0)
    out = p.on_hypothesis(words("и Марина 600", start=0.0), 2.6)
    assert [c.text for c in finals(out)] == ["и Марина"]
    out = p.on_hypothesis(words("Марина 614 и", start=0.4), 3.2)
    out += p.on_hypothesis(words("Марина 614 и всё", start=0.4), 3.8)
    assert [c.text for c in finals(out)] == ["614 и"]


def test_a_number_followed_by_a_number_waits_too():
    # ru_silero_numbers: "Марина 600 -14" in two passes, then 614 in the final one.
    p = policy()
    p.on_hypothesis(words("и Марина 600 -14"), 2.2)
    out = p.on_hypothesis(words("и Марина 600 -14"), 2.8)
    assert [c.text for c in finals(out)] == ["и Марина"]
    out = p.on_hypothesis(words("и Марина 614"), 3.0, final=True)
    assert [c.text for c in finals(out)] == ["614"]


def test_a_pass_that_reaches_back_commits_only_what_follows_the_committed_words():
    # A pass decoded from 2 s before the trim point hears the committed "a capital
    # letter" again; only the words after it are new, and they agree with the pass
    # before, which did not reach back.
    p = policy()
    p.on_hypothesis(words("with a capital letter", 4.4), 6.0)
    p.on_hypothesis(words("with a capital letter even", 4.4), 6.5)
    assert [w.text.strip() for w in p._utt.committed] == ["with", "a", "capital", "letter"]
    out = p.on_hypothesis(words("a capital letter even in the middle", 4.8), 7.8)
    assert [c.text for c in finals(out)] == ["even"]
    assert [c.text for c in partials(out)] == ["in the middle"]


def test_words_on_screen_are_committed_when_the_final_pass_fails():
    p = policy()
    p.on_hypothesis(words("between our"), 0.8)
    p.on_hypothesis(words("between our countries"), 1.2)
    assert p.word_ends == pytest.approx([0.35, 0.75])
    # The final pass heard nothing, not even the committed words it reached back into.
    out = p.on_hypothesis([], 1.5, final=True)
    assert [(c.text, c.final) for c in out] == [("countries", True)]


def test_words_on_screen_are_committed_when_the_final_pass_stops_short():
    # ru_welcome, x1.1 schedule: the final pass from the end of "центра." wrote the
    # prompt's first words again, squeezed, and nothing after 7.98 s; "между" (committed)
    # ends at 8.66 s, and "нашими странами." was on screen.
    p = policy()
    heard = timed(("язии", 6.72, 7.18), ("с", 7.18, 7.34), ("отрудничества", 7.34, 8.24),
                  ("между", 8.24, 8.66))
    p.on_hypothesis(heard + timed(("нашей", 8.66, 9.18)), 9.2)
    p.on_hypothesis(heard + timed(("нашими", 8.68, 9.26), ("странами.", 9.26, 9.88)), 9.9)
    assert p.commit_point_s == pytest.approx(8.66)
    echo = timed(("Добрый", 6.54, 6.70), ("день,", 6.70, 6.70), ("коллеги!", 6.78, 7.98))
    out = p.on_hypothesis(echo, 10.1, final=True)
    assert [(c.text, c.final) for c in out] == [("нашими странами.", True)]


@pytest.mark.parametrize("final_words, committed", [
    # en_pisets_neural_networks at -35 dBFS: the last provisional pass read the whole
    # sentence, the final pass over the same audio only its first sounds.
    (timed(("Ne", 0.0, 0.04), ("Ne", 0.04, 0.22)), "Neural Networks are good"),
    # A final pass that drops a provisional tail read into the silence keeps the rest.
    (timed(("Neural", 0.0, 0.24), ("Networks", 0.24, 0.82)), "Neural Networks"),
    # One that reads as many words reads them its own way.
    (timed(("Neural", 0.0, 0.24), ("networks", 0.24, 0.82), ("are", 0.82, 0.96),
           ("fine", 0.96, 1.22)), "Neural networks are fine"),
])
def test_a_final_pass_that_made_out_only_the_first_sounds_does_not_replace_the_words_shown(
        final_words, committed):
    p = policy()
    p.on_hypothesis(timed(("Neural", 0.0, 0.22), ("Networks", 0.22, 0.78)), 0.8)
    p.on_hypothesis(timed(("Ne", 0.0, 0.08), ("Ne", 0.08, 0.30)), 1.3)
    p.on_hypothesis(timed(("Neural", 0.0, 0.24), ("Networks", 0.24, 0.82),
                          ("are", 0.82, 0.96), ("good", 0.96, 1.22)), 1.8)
    assert p._utt.committed == []  # each pass read it otherwise than the one before
    out = p.on_hypothesis(final_words, 1.69, final=True)
    assert [(c.text, c.final) for c in out] == [(committed, True)]


def test_final_pass_that_rereads_committed_words_decides_the_tail():
    p = policy()
    p.on_hypothesis(words("between our"), 0.8)
    p.on_hypothesis(words("between our countries"), 1.2)
    out = p.on_hypothesis(words("between our"), 1.5, final=True)
    assert [(c.text, c.final) for c in out] == [("", False)]


def test_prompt_holds_only_text_before_the_decoded_audio():
    p = policy(trim_after_s=1.0)
    p.on_hypothesis(words("good afternoon ladies and gentlemen today"), 2.6)
    p.on_hypothesis(words("good afternoon ladies and gentlemen today we"), 3.0)
    assert p.buffer_start_s > 1.0 and p.prompt().startswith("good afternoon")
    assert p.prompt(before_s=0.5) == ""


def test_last_committed_word_read_again_longer_is_not_committed_twice():
    p = policy()
    p.on_hypothesis(words("климатов центра"), 0.8)
    p.on_hypothesis(words("климатов центра язии"), 1.6)  # "центра" ends at 0.75 s
    assert [w.text.strip() for w in p._utt.committed] == ["климатов", "центра"]
    again = words("климатов") + [Word(" центральные", 0.4, 0.95), Word(" язии", 0.95, 1.3)]
    out = p.on_hypothesis(again, 2.0, final=True)
    assert [c.text for c in finals(out)] == ["язии"]


def test_a_common_word_elsewhere_does_not_stand_for_the_last_committed_one():
    # CI, en_welcome from a sound device: "the" was committed from "the role of the
    # men" (a pass cut inside "development"); the final pass had no such "the", and
    # the text search took the one before "role" for it: "the role of the role of".
    p = policy()
    p.on_hypothesis(timed(("and", 6.18, 6.58), ("the", 6.58, 6.72), ("role", 6.72, 7.0),
                          ("of", 7.0, 7.18), ("the", 7.18, 7.30), ("men", 7.30, 7.46)), 7.5)
    p.on_hypothesis(timed(("and", 6.18, 6.58), ("the", 6.58, 6.72), ("role", 6.72, 7.0),
                          ("of", 7.0, 7.18), ("the", 7.18, 7.30),
                          ("development", 7.30, 7.9)), 8.0)
    assert " ".join(w.text.strip() for w in p._utt.committed) == "and the role of the"
    out = p.on_hypothesis(timed(("and", 6.18, 6.58), ("the", 6.58, 6.72), ("role", 6.72, 6.98),
                                ("of", 6.98, 7.20), ("development", 7.20, 7.74),
                                ("banks.", 7.74, 8.42)), 8.9, final=True)
    assert [c.text for c in finals(out)] == ["development banks."]


def test_the_last_committed_word_opening_a_pass_is_found_however_stretched():
    # The English lecture: a pass heard "And And the answer" (one "And" too many), "And"
    # at 1.72-1.92 s was committed, and the next pass stretched it to 1.72-2.80 s.
    p = policy()
    p.start_utterance(1.72)
    p.set_language("en", locked=True)
    p.on_hypothesis(timed(("And", 1.72, 2.08), ("the", 2.08, 2.16)), 2.9)
    out = p.on_hypothesis(timed(("And", 1.72, 1.92), ("And", 2.38, 2.82), ("the", 2.82, 2.98),
                                ("answer", 2.98, 3.26)), 3.9)
    assert [c.text for c in finals(out)] == ["And"]
    out = p.on_hypothesis(timed(("And", 1.72, 2.80), ("the", 2.80, 2.96),
                                ("answer", 2.96, 3.26), ("that", 3.26, 3.48)), 4.5)
    assert finals(out) == [] and [c.text for c in partials(out)] == ["the answer that"]


def test_the_committed_tail_is_found_where_it_ends_not_where_it_recurs():
    # The English lecture: "in the" was committed (ending 24.64 s), and the next pass,
    # "in the journals and in the literature", holds a second "in the" 0.92 s later.
    p = policy()
    p.on_hypothesis(timed(("in", 24.3, 24.5), ("the", 24.5, 24.64), ("j", 24.66, 24.78)), 24.8)
    p.on_hypothesis(timed(("in", 24.3, 24.5), ("the", 24.5, 24.64), ("journals", 24.64, 25.02),
                          ("and", 25.02, 25.36), ("in", 25.36, 25.48)), 25.5)
    assert " ".join(w.text.strip() for w in p._utt.committed) == "in the"
    heard = timed(("in", 24.24, 24.5), ("the", 24.5, 24.64), ("journals", 24.64, 25.04),
                  ("and", 25.04, 25.36), ("in", 25.36, 25.46), ("the", 25.46, 25.56),
                  ("literature.", 25.56, 25.78))
    out = p.on_hypothesis(heard, 26.0, final=True)
    assert [c.text for c in finals(out)] == ["journals and in the literature."]


def test_a_short_first_word_at_the_buffer_start_is_kept():
    # ru_tinkoff_sample_3 starts with "Он" at 0.00-0.14 s: within the tolerance for a
    # committed word's end, but no word was committed there.
    p = policy()
    first = timed(("Он", 0.0, 0.14), ("проторчал", 0.14, 0.72), ("здесь", 0.72, 0.94))
    p.on_hypothesis(first, 1.3)
    out = p.on_hypothesis(first + timed(("уже", 0.94, 1.24)), 1.8)
    assert [c.text for c in finals(out)] == ["Он проторчал здесь"]


def test_a_word_read_again_just_after_the_last_committed_one_is_not_new():
    p = policy()
    p.on_hypothesis(words("water resources"), 1.0)
    p.on_hypothesis(words("water resources are"), 1.5)
    assert p.commit_point_s == pytest.approx(0.75)
    p.on_hypothesis(words("water resources"), 1.6, final=True)
    p.end_utterance()
    p.start_utterance(0.7)  # a short pause: the buffer starts at the commit point
    out = p.on_hypothesis([Word(" resources", 0.76, 0.85)] + words("shrinking", 0.9), 2.0,
                          final=True)
    assert [c.text for c in finals(out)] == ["shrinking"]


def test_words_after_a_stretch_heard_as_nothing_wait_for_the_final_pass():
    # en_fleurs_002: after "town of" was committed, passes heard only "the", 2.6 s on.
    p = policy()
    p.on_hypothesis(words("town of"), 0.8)
    p.on_hypothesis(words("town of sintra"), 1.6)
    assert p.commit_point_s == pytest.approx(0.75)
    late = [Word(" the", 0.75, 2.75)]  # stretched over speech it did not make out
    for end in (3.2, 3.8, 4.4):
        assert finals(p.on_hypothesis(late, end)) == []  # agreed, and overdue, but held
    out = p.on_hypothesis(words("town of sintra in which was made famous the", step=0.3),
                          4.8, final=True)
    assert [c.text for c in finals(out)] == ["sintra in which was made famous the"]


def test_a_pause_shorter_than_the_gap_does_not_hold_words():
    p = policy()
    p.on_hypothesis(words("town of"), 0.8)
    p.on_hypothesis(words("town of"), 1.4)
    after_pause = [Word(" sintra", 1.6, 2.3), Word(" in", 2.3, 2.5)]  # 0.85 s pause
    p.on_hypothesis(after_pause, 2.9)
    assert [c.text for c in finals(p.on_hypothesis(after_pause, 3.3))] == ["sintra in"]


def test_a_gap_inside_the_hypothesis_holds_the_words_after_it():
    p = policy()
    hyp = words("we need shared") + [Word(" investment", 1.5, 3.4)]
    p.on_hypothesis(hyp, 3.8)
    out = p.on_hypothesis(hyp, 4.4)
    assert [c.text for c in finals(out)] == ["we need shared"]
    assert [c.text for c in partials(out)] == ["investment"]


def test_after_a_pass_that_skipped_speech_the_next_goes_without_a_prompt():
    p = policy()
    p.on_hypothesis(words("town of"), 0.8)
    p.on_hypothesis(words("town of"), 1.4)
    assert p.prompt(before_s=2.0) == "town of"
    p.on_hypothesis([Word(" the", 0.75, 2.75)], 3.2)
    assert p.prompt(before_s=2.0) == ""
    p.on_hypothesis([Word(" sintra", 0.8, 1.3), Word(" in", 1.3, 1.5)], 3.6)
    assert p.prompt(before_s=2.0) == "town of"


T0 = 1.0  # where the new utterance's speech starts in the opening tests


def opening_policy(speech_start_s: float = T0, before: str | None = "ru",
                   lang: str = "en") -> StreamingPolicy:
    """A policy whose previous utterance (0.1-0.6 s) was in ``before`` (None: there was
    none), at a new utterance in ``lang`` whose speech starts at ``speech_start_s``."""
    clock = iter(range(10**6))
    p = StreamingPolicy("floor", StreamingParams(opening_s=3.0), clock_ns=lambda: next(clock))
    if before is not None:
        p.start_utterance(0.0)
        p.set_language(before, locked=True)
        p.on_hypothesis(words("слово", start=0.1), 0.9, final=True)
        p.end_utterance()
    p.start_utterance(max(0.7, speech_start_s - 1.0), speech_start_s)
    p.set_language(lang, locked=True)
    return p


def test_after_a_change_of_language_the_first_words_wait_for_passes_that_heard_enough():
    # en_welcome after a Russian speaker: passes of 2.4 and 2.9 s agreed on a misreading.
    p = opening_policy()
    misread = "God Afternoon, Lady Manchan, Somen"
    assert finals(p.on_hypothesis(words(misread, start=T0), T0 + 2.4)) == []
    assert finals(p.on_hypothesis(words(misread, start=T0), T0 + 2.9)) == []
    # 3.4 s: this pass has heard enough, but the one before it had not.
    right = "Good afternoon, ladies and gentlemen. Today we will discuss"
    assert finals(p.on_hypothesis(words(right, start=T0), T0 + 3.4)) == []
    out = p.on_hypothesis(words(right + " climate", start=T0), T0 + 3.9)
    assert finals(out)[0].text.startswith("Good afternoon, ladies")
    # Once the utterance has committed words, agreement works as ever.
    assert not p._utt.opening(p.params.opening_s)


def test_the_opening_is_measured_from_where_the_speech_starts():
    start = T0 + 2.0
    p = opening_policy(speech_start_s=start)
    assert finals(p.on_hypothesis(words("water resources", start=start), start + 2.5)) == []
    assert finals(p.on_hypothesis(words("water resources in the", start=start),
                                  start + 3.0)) == []
    out = p.on_hypothesis(words("water resources in the region", start=start), start + 3.5)
    assert [c.text for c in finals(out)] == ["water resources in the"]


@pytest.mark.parametrize("before", [None, "en"])
def test_a_first_utterance_or_a_speaker_going_on_in_its_language_is_not_held(before):
    p = opening_policy(before=before)
    p.on_hypothesis(words("water resources", start=T0), T0 + 1.5)
    out = p.on_hypothesis(words("water resources in the", start=T0), T0 + 2.0)
    assert [c.text for c in finals(out)] == ["water resources"]


def test_a_short_utterance_is_committed_by_its_final_pass():
    p = opening_policy()
    p.on_hypothesis(words("thank you", start=T0), T0 + 1.2)
    out = p.on_hypothesis(words("thank you", start=T0), T0 + 1.5, final=True)
    assert [c.text for c in finals(out)] == ["thank you"]

