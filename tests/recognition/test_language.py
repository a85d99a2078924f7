"""Language choice as a pure unit: identifications weighed against the previous utterance."""

from captioner.recognition.language import pick_language


def test_language_settles_only_on_enough_speech():
    # 0.4 s of Russian was measured at P(en) = 0.99: too little speech settles nothing.
    early = pick_language("en", 0.99, None, 0.4)
    assert (early.lang, early.settled) == ("en", False)
    early_with_previous = pick_language("en", 0.99, "ru", 0.4, gap_s=5.0)
    assert (early_with_previous.lang, early_with_previous.settled) == ("ru", False)
    # A near-certain identification of the previous language settles sooner.
    going_on = pick_language("ru", 0.99, "ru", 0.9, gap_s=3.0)
    assert (going_on.lang, going_on.settled) == ("ru", True)
    assert not pick_language("ru", 0.9, "ru", 0.9, gap_s=3.0).settled
    assert not pick_language("ru", 0.99, "ru", 0.5, gap_s=3.0).settled
    first = pick_language("ru", 0.95, None, 1.6)
    assert (first.lang, first.settled) == ("ru", True)
    unsure = pick_language("en", 0.7, None, 1.6)
    assert (unsure.lang, unsure.settled) == ("en", False)
    # The final pass decides, whatever the evidence.
    assert pick_language("en", 0.7, None, 1.6, final=True).settled
    short_final = pick_language("en", 0.99, "ru", 0.6, gap_s=5.0, final=True)
    assert (short_final.lang, short_final.settled) == ("ru", True)


def test_language_sticks_unless_the_evidence_for_a_switch_is_strong():
    # The same speaker going on (a short pause): a switch needs p >= 0.9 on 2 s.
    held = pick_language("en", 0.88, "ru", 2.5, gap_s=0.5)
    assert (held.lang, held.settled) == ("ru", False)
    short = pick_language("en", 0.99, "ru", 1.6, gap_s=0.5)
    assert not short.settled
    # ...but a near-certain identification is decoded in meanwhile: in the previous
    # language Whisper would translate the new speaker's words.
    assert short.lang == "en"
    assert pick_language("en", 0.97, "ru", 1.6, gap_s=0.5).lang == "ru"
    assert pick_language("en", 0.99, "ru", 0.6, gap_s=0.5).lang == "ru"
    switched = pick_language("en", 0.97, "ru", 2.5, gap_s=0.5)
    assert (switched.lang, switched.settled) == ("en", True)
    # After a longer pause (speakers change) a confident identification switches.
    new_speaker = pick_language("en", 0.88, "ru", 1.6, gap_s=3.0)
    assert (new_speaker.lang, new_speaker.settled) == ("en", True)
    doubtful = pick_language("en", 0.7, "ru", 3.0, gap_s=3.0)
    assert (doubtful.lang, doubtful.settled) == ("ru", False)
    same = pick_language("ru", 0.6, "ru", 1.6)
    assert (same.lang, same.settled) == ("ru", True)
