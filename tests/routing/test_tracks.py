"""Track routing: which input feeds each language track, and what goes to translation."""

from __future__ import annotations

import dataclasses

import pytest

from captioner.events import Caption, Speaker, Word
from captioner.languages import other
from captioner.routing.tracks import Routed, TrackRouter, machine_caption


def cap(text: str = "text", lang: str = "ru", *, final: bool = True, source: str = "floor",
        input_id: str | None = None, id: str | None = None, start_s: float = 0.0,
        end_s: float = 1.0, revision: int = 0) -> Caption:
    input_id = input_id or ("booth" if source == "interpretation" else "floor")
    return Caption(id=id or f"{input_id}-1", final=final, lang=lang, text=text,
                   start_s=start_s, end_s=end_s, emitted_ns=1, source=source,
                   input_id=input_id, revision=revision)


def booth(text: str = "text", lang: str = "en", **kw) -> Caption:
    return cap(text, lang, source="interpretation", **kw)


# --- the floor ----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_floor_caption_is_published_on_its_language_and_sent_for_translation(lang):
    router = TrackRouter()
    c = cap("Добрый день." if lang == "ru" else "Good afternoon.", lang)
    routed = router.route(c)
    assert routed.publish == (c,)
    assert routed.publish[0].lang == lang
    assert routed.translate is c


def test_floor_partials_are_published_but_never_translated():
    router = TrackRouter()
    partial = cap("Добрый", final=False)
    assert router.route(partial) == Routed(publish=(partial,), translate=None)


def test_floor_caption_in_an_unknown_language_is_shown_not_translated():
    router = TrackRouter()
    c = cap("???", "?")
    assert router.route(c) == Routed(publish=(c,))


def test_no_translation_when_disabled():
    router = TrackRouter(translate=False)
    c = cap()
    assert router.route(c) == Routed(publish=(c,))
    router.translate_enabled = True
    assert router.route(c).translate is c


def test_translation_held_while_the_booth_speaks_the_other_language():
    router = TrackRouter(booth_hold_s=10.0)
    router.route(cap("Добрый день", "ru", end_s=1.0))
    interp = booth("Good afternoon", "en", start_s=2.0, end_s=4.0)
    assert router.route(interp).publish == (interp,)
    assert router.booth_live("en", 5.0)
    # The floor's next sentences: the booth covers English, so no machine translation.
    assert router.route(cap("Коллеги.", "ru", id="floor-2", start_s=4.0,
                            end_s=6.0)).translate is None
    assert router.route(cap("Ещё.", "ru", id="floor-3", start_s=12.0,
                            end_s=14.0)).translate is None  # 10 s after the booth: held
    # More than booth_hold_s after the booth last spoke: machine translation again.
    late = cap("Вопросы?", "ru", id="floor-4", start_s=14.0, end_s=14.5)
    assert router.route(late).translate is late
    assert not router.booth_live("en", 14.5)


def test_booth_speaking_the_floor_language_does_not_hold_translation():
    router = TrackRouter()
    router.route(booth("Добрый день", "ru", end_s=2.0))  # the floor is silent so far: shown
    en = cap("Good afternoon.", "en", end_s=3.0)
    # The booth spoke Russian, the floor English: Russian is covered, English is not.
    assert router.route(en).translate is None
    ru = cap("Добрый день.", "ru", id="floor-2", end_s=4.0)
    assert router.route(ru).translate is ru


def test_booth_partials_count_as_the_booth_speaking():
    router = TrackRouter()
    router.route(cap("Добрый", "ru", final=False))
    router.route(booth("Good", "en", final=False, end_s=3.0))
    assert router.route(cap("Добрый день.", "ru", end_s=3.5)).translate is None


def test_an_empty_booth_caption_does_not_hold_translation():
    router = TrackRouter()
    router.route(cap("Добрый", "ru", final=False))
    router.route(booth("", "en", final=False, end_s=3.0))
    c = cap("Добрый день.", "ru", end_s=3.5)
    assert router.route(c).translate is c


# --- the booth ----------------------------------------------------------------------------


def test_booth_partials_and_commits_are_published_as_interpretation():
    router = TrackRouter()
    router.route(cap("Добрый день", "ru"))
    partial = booth("Good", "en", final=False, revision=1)
    final = booth("Good afternoon", "en", revision=1)
    for c in (partial, final):
        (shown,) = router.route(c).publish
        assert shown is c
        assert shown.source == "interpretation" and shown.lang == "en"
        assert router.route(c).translate is None


def test_booth_in_the_floor_language_is_suppressed():
    router = TrackRouter()
    router.route(cap("Добрый день", "ru"))
    # The booth microphone catching the Russian speaker, or a relay into Russian.
    assert router.route(booth("Добрый день", "ru", final=False)) == Routed()
    assert router.route(booth("Добрый день", "ru")) == Routed()


def test_booth_in_a_language_of_no_track_is_suppressed():
    router = TrackRouter()
    assert router.route(booth("Guten Tag", "de")) == Routed()
    assert router.route(booth("…", "?", final=False)) == Routed()


def test_booth_follows_the_floor_language_switches():
    router = TrackRouter()
    router.route(cap("Добрый день", "ru"))
    assert router.route(booth("Good afternoon", "en", id="booth-1")).publish
    router.route(cap("Thank you.", "en", id="floor-2"))
    assert router.route(booth("Спасибо", "ru", id="booth-2")).publish
    assert router.route(booth("Thank you", "en", id="booth-3")) == Routed()


def test_booth_utterance_already_shown_survives_a_floor_switch():
    """Interpreters lag: the floor switches to English while the booth still finishes
    its English interpretation of the Russian speech. Its commit must not be lost."""
    router = TrackRouter()
    router.route(cap("Добро пожаловать в павильон Центральной Азии.", "ru"))
    first = booth("Welcome to the Central", "en", final=False, revision=3, end_s=6.0)
    assert router.route(first).publish == (first,)
    router.route(cap("Thank you.", "en", id="floor-2", final=False, start_s=7.0, end_s=8.0))
    rest = booth("Asia Pavilion.", "en", start_s=6.1, end_s=6.9, revision=3)
    assert router.route(rest).publish == (rest,)
    # The booth's next utterance in English is the room again: suppressed.
    assert router.route(booth("Thank you", "en", id="booth-2")) == Routed()


def test_booth_partial_withdrawn_when_its_utterance_changes_language():
    router = TrackRouter()
    router.route(cap("Добрый день", "ru"))
    en = booth("Dobry", "en", final=False, revision=1)
    assert router.route(en).publish == (en,)
    # A later pass identifies the booth utterance as Russian, the floor's language: the
    # English partial it left on screen is withdrawn, nothing is shown in Russian.
    routed = router.route(booth("Добрый день", "ru", final=False, revision=2))
    (withdraw,) = routed.publish
    assert (withdraw.id, withdraw.lang, withdraw.text, withdraw.final) == ("booth-1", "en", "",
                                                                             False)
    assert withdraw.revision == 1 and withdraw.source == "interpretation"
    assert router.route(booth("Добрый день", "ru")) == Routed()  # nothing left to withdraw


def test_floor_partial_withdrawn_when_its_language_changes():
    router = TrackRouter()
    en = cap("Dobry", "en", final=False, revision=1)
    assert router.route(en).publish == (en,)
    ru = cap("Добрый день", "ru", final=False, revision=2)
    withdraw, shown = router.route(ru).publish
    assert (withdraw.lang, withdraw.text, withdraw.final, withdraw.id) == ("en", "", False,
                                                                            "floor-1")
    assert shown is ru
    # A commit in the same language ends the partial: nothing more to withdraw.
    done = cap("Добрый день.", "ru", revision=2)
    assert router.route(done).publish == (done,)
    nxt = cap("Hello", "en", id="floor-2", final=False)
    assert router.route(nxt).publish == (nxt,)


def test_inputs_are_tracked_separately():
    router = TrackRouter()
    router.route(cap("Добрый", "ru", final=False))
    interp = booth("Good", "en", final=False)
    # The booth's partial does not withdraw the floor's, and the other way round.
    assert router.route(interp).publish == (interp,)
    floor = cap("Добрый день", "ru", final=False, revision=1)
    assert router.route(floor).publish == (floor,)


# --- machine captions ---------------------------------------------------------------------


def test_machine_captions_pass_through():
    router = TrackRouter()
    router.route(cap("Good afternoon", "en"))
    origin = cap("Добрый день.", "ru", start_s=0.5, end_s=2.0)
    mt = machine_caption(origin, "Good afternoon.", 0.5, 2.0, 42, 1)
    assert router.route(mt) == Routed(publish=(mt,))


def test_machine_caption_fields():
    words = (Word("Добрый", 0.5, 1.0), Word("день.", 1.0, 2.0))
    origin = dataclasses.replace(cap("Добрый день.", "ru", start_s=0.5, end_s=2.0,
                                     revision=4), seq=17, words=words)
    mt = machine_caption(origin, "Good afternoon.", 0.4, 2.1, 123, 7)
    assert mt.id == "mt-floor-7"
    assert mt.final and mt.lang == "en" and mt.source == "machine"
    assert mt.text == "Good afternoon."
    assert (mt.start_s, mt.end_s, mt.emitted_ns) == (0.4, 2.1, 123)
    assert mt.input_id == "floor"
    assert mt.seq is None and mt.revision == 0 and mt.words == ()
    back = machine_caption(dataclasses.replace(origin, lang="en"), "Добрый день.", 0, 1, 1, 8)
    assert back.lang == "ru" and back.id == "mt-floor-8"


def test_other():
    assert other("ru") == "en"
    assert other("en") == "ru"


# --- who is speaking ----------------------------------------------------------------------


def test_interpretations_and_translations_carry_the_speaker_of_the_floor_they_render():
    a, b = Speaker("Dr. Aliya Seitkali", "Moderator"), Speaker("Michael Turner", "ADB")
    router = TrackRouter()
    router.route(dataclasses.replace(cap("Добрый день", id="floor-1", start_s=1.0), speaker=a))
    first = router.route(booth("Good", final=False, id="booth-1", start_s=3.0)).publish
    assert [c.speaker for c in first] == [a]
    # The floor's next speaker begins while the booth still renders the first.
    router.route(dataclasses.replace(cap("Thank you", "en", final=False, id="floor-2",
                                         start_s=6.0), speaker=b))
    rest = router.route(booth("Good afternoon", id="booth-1", start_s=3.0)).publish
    assert [c.speaker for c in rest] == [a]  # a booth utterance keeps its speaker
    nxt = router.route(booth("Спасибо", "ru", id="booth-2", start_s=7.5)).publish
    assert [c.speaker for c in nxt] == [b]
    # Before any floor utterance the booth renders nobody's.
    assert TrackRouter().route(booth("x", start_s=0.5)).publish[0].speaker is None
    mt = machine_caption(dataclasses.replace(cap("Спасибо", id="floor-9"), speaker=b),
                         "Thank you", 0.0, 1.0, 5, 1)
    assert (mt.speaker, mt.utterance_id, mt.source) == (b, "floor-9", "machine")


def test_a_withdrawn_partial_keeps_its_own_speaker():
    a, b = Speaker("A"), Speaker("B")
    router = TrackRouter()
    router.route(dataclasses.replace(cap("Good", "en", final=False, id="floor-1"), speaker=a))
    withdraw, shown = router.route(dataclasses.replace(
        cap("Добрый", "ru", final=False, id="floor-2", start_s=2.0), speaker=b)).publish
    assert (withdraw.id, withdraw.text, withdraw.speaker) == ("floor-1", "", a)
    assert (shown.id, shown.speaker) == ("floor-2", b)


def test_with_two_floor_microphones_the_booth_renders_the_one_that_began_last():
    # A panel: the moderator's lectern and the panellists' table microphone, whose
    # utterances overlap, so that their partials arrive in turn.
    moderator, panellist = Speaker("Dr. Aliya Seitkali"), Speaker("Michael Turner")
    router = TrackRouter()

    def floor(input_id: str, start_s: float, speaker: Speaker) -> None:
        router.route(dataclasses.replace(cap("…", final=False, input_id=input_id,
                                             start_s=start_s), speaker=speaker))

    floor("lectern", 10.0, moderator)
    floor("table", 12.0, panellist)
    floor("lectern", 10.0, moderator)  # the moderator's utterance goes on
    assert router.route(booth("x", id="booth-1", start_s=13.0)).publish[0].speaker == panellist
