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


def test_the_speakers_declared_language_is_a_prior():
    # Without a hint a sure identification after a pause switches; with the speaker's
    # declared Russian, 1.6 s of English is not enough: a short quote does not flip it.
    assert pick_language("en", 0.97, "ru", 1.6, gap_s=2.0).lang == "en"
    quote = pick_language("en", 0.97, "ru", 1.6, gap_s=2.0, hint="ru")
    assert (quote.lang, quote.settled) == ("ru", False)
    final = pick_language("en", 0.97, "ru", 2.5, gap_s=2.0, final=True, hint="ru")
    assert (final.lang, final.settled) == ("ru", True)
    # Near certain: decoded in meanwhile (no translation on screen if it is a switch),
    # but not settled, and the final pass keeps the declared language.
    sure = pick_language("en", 0.99, None, 1.6, hint="ru")
    assert (sure.lang, sure.settled) == ("en", False)
    assert pick_language("en", 0.99, None, 2.0, final=True, hint="ru").lang == "ru"
    # A speaker who does switch is followed: sure, on enough speech...
    switch = pick_language("en", 0.96, "ru", 3.2, gap_s=0.3, hint="ru")
    assert (switch.lang, switch.settled) == ("en", True)
    assert not pick_language("en", 0.9, "ru", 4.0, hint="ru").settled
    # ...and, once followed, goes on in it as any speaker would.
    going_on = pick_language("en", 0.99, "en", 0.9, gap_s=0.5, hint="ru")
    assert (going_on.lang, going_on.settled) == ("en", True)
    # Back to the declared language without the same-speaker bar.
    back = pick_language("ru", 0.86, "en", 1.6, gap_s=0.3, hint="ru")
    assert (back.lang, back.settled) == ("ru", True)
    assert not pick_language("ru", 0.86, "en", 1.6, gap_s=0.3).settled  # no hint: held


def test_the_declared_language_settles_a_first_utterance_sooner():
    # The hint stands in for a previous utterance in that language.
    assert not pick_language("ru", 0.99, None, 0.9).settled
    early = pick_language("ru", 0.99, None, 0.9, hint="ru")
    assert (early.lang, early.settled) == ("ru", True)
    unsure = pick_language("ru", 0.6, None, 1.6, hint="ru")
    assert (unsure.lang, unsure.settled) == ("ru", True)
    assert not pick_language("ru", 0.6, None, 1.6).settled


def test_short_phrases_in_a_row_add_up_to_a_switch():
    # A speaker who switches in short phrases (JFK's 11 s came as phrases under 3 s):
    # one phrase is held in the declared language, and the next one follows it.
    first = pick_language("en", 0.97, "ru", 2.0, gap_s=0.6, final=True, hint="ru")
    assert (first.lang, first.settled, first.held_s) == ("ru", True, 2.0)
    second = pick_language("en", 0.97, "ru", 1.2, gap_s=0.6, hint="ru", held_s=first.held_s)
    assert (second.lang, second.settled) == ("en", True)
    # Unsure identifications hold nothing; without a hint nothing is held either.
    assert pick_language("en", 0.9, "ru", 2.0, final=True, hint="ru").held_s == 0.0
    assert pick_language("en", 0.9, "ru", 2.0, final=True).held_s == 0.0
    # The declared language itself resets nothing to hold.
    assert pick_language("ru", 0.99, "ru", 2.0, final=True, hint="ru").held_s == 0.0
    still = pick_language("en", 0.97, "ru", 0.5, gap_s=0.6, final=True, hint="ru",
                          held_s=2.0)
    assert (still.lang, still.held_s) == ("ru", 2.5)  # 2.5 s: not yet a switch
