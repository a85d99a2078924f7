"""Language choice: which language an utterance is decoded in, and when that is settled.

Whisper identifies a language from the audio of each pass; this module weighs that
identification against how much speech it heard, the language of the input's
previous utterance, and the language the speaker on the floor declared in the
programme, when the operator has set one (:func:`pick_language`). Pure: no model
inside. The streaming policy (:mod:`captioner.recognition.streaming`) is told the
result; the live worker (:mod:`captioner.recognition.live`) asks for it before each
pass.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LanguageChoice:
    """The language to decode an utterance in, and whether it is settled.

    ``held_s``: speech identified surely in another language than the speaker's
    declared one but kept in it (a quote, or the start of a switch): the input's next
    utterance, if it goes on in that language, counts it towards following the switch.
    """

    lang: str
    settled: bool
    held_s: float = 0.0


@dataclass(frozen=True)
class LanguageRule:
    """When an identified language is trusted.

    Measured on the Russian lecture in ../shared/audio: with 0.4 s of speech Whisper
    gave one utterance P(ru) = 0.01; with 1.2 s, 0.77-1.00; with 1.6 s, 0.87-1.00 for
    every utterance. So identification waits for enough speech, and a single second
    of audio never switches an input's language.

    Attributes:
        min_speech_s: Speech (from the voice-activity start, pre-roll not counted) an
            identification needs before it can settle the language.
        same_speech_s: Less speech is enough when the identification agrees with the
            previous utterance's language and is near certain (``same_sure``): the
            common case of a speaker going on. (On the lecture, 0.8 s of speech gave
            P(ru) between 0.52 and 1.00 and never a sure wrong answer; 0.4 s did.)
            A sure identification of another language on that much speech does not
            settle a switch, but the passes decode in it until the switch is settled.
        confident: Probability, among the allowed languages, that settles a language
            when there is no previous one to weigh against (or after a long pause).
        switch: Probability needed to switch away from the previous utterance's
            language right after it (same speaker going on).
        switch_speech_s: Speech needed for that switch.
        sticky_gap_s: Pauses shorter than this are the same speaker going on; after a
            longer pause (where speakers change) a confident identification switches.
        hint_switch: Probability needed to decode in another language than the one the
            speaker declared (a speaker who really switches is followed).
        hint_switch_speech_s: Speech needed for that: a short quote in the other
            language inside a speaker's speech does not flip the input.
    """

    min_speech_s: float = 1.5
    same_speech_s: float = 0.8
    same_sure: float = 0.98
    confident: float = 0.85
    switch: float = 0.9
    switch_speech_s: float = 2.0
    sticky_gap_s: float = 1.0
    hint_switch: float = 0.95
    hint_switch_speech_s: float = 3.0


def pick_language(candidate: str, probability: float, previous: str | None,
                  speech_s: float, gap_s: float = float("inf"), *, final: bool = False,
                  rule: LanguageRule = LanguageRule(),
                  hint: str | None = None, held_s: float = 0.0) -> LanguageChoice:
    """Weighs a language identification against the input's previous utterance.

    Speakers switch language between utterances, but far less often than a second of
    audio misleads language identification; and decoding Russian as English makes
    Whisper *translate* it. So an identification on too little speech settles nothing,
    and the previous language holds unless the evidence for a switch is strong. An
    unsettled choice is checked again on the next pass, which has more audio; the
    final pass of an utterance decides.

    An identification that is near certain (``rule.same_sure``) on ``same_speech_s``
    but not yet enough to settle a switch is decoded in, unsettled: decoded in the
    previous language, Whisper would translate the new speaker's first words, and the
    screens would show that translation for the second or two a switch takes.

    Args:
        candidate: The identified language.
        probability: Its probability among the allowed languages.
        previous: The language of this input's previous utterance, if any.
        speech_s: How much speech the identification heard.
        gap_s: The pause since the previous utterance ended.
        final: The utterance's last pass: the choice is settled either way.
        rule: Thresholds.
        hint: The language the speaker on the floor declared, or None. It weighs like
            the previous utterance's language, but more: decoding in another language
            needs ``rule.hint_switch`` on ``rule.hint_switch_speech_s`` of speech,
            after a pause or not, until the speaker has been heard in it.
        held_s: The ``held_s`` of the input's previous utterance (same hint): speech
            just before, surely in ``candidate``, that counts towards that switch. A
            single short quote does not flip the input; two short phrases in a row do.
    """
    if hint is not None:
        return _with_hint(candidate, probability, previous, speech_s, gap_s, final, rule,
                          hint, held_s)
    choice = _weigh_language(candidate, probability, previous, speech_s, gap_s, final, rule)
    if (not choice.settled and choice.lang != candidate and probability >= rule.same_sure
            and speech_s >= rule.same_speech_s):
        return LanguageChoice(candidate, False)
    return choice


def _weigh_language(candidate: str, probability: float, previous: str | None,
                    speech_s: float, gap_s: float, final: bool,
                    rule: LanguageRule) -> LanguageChoice:
    if candidate == previous and probability >= rule.same_sure and (
            speech_s >= rule.same_speech_s):
        return LanguageChoice(candidate, True)
    if speech_s < rule.min_speech_s:
        if final and previous is None:
            return LanguageChoice(candidate, True)
        # Too little speech to trust: the previous language, else the guess, for now.
        return LanguageChoice(previous or candidate, final)
    if previous is None or candidate == previous:
        sure = probability >= (rule.confident if previous is None else 0.5)
        return LanguageChoice(candidate, sure or final)
    same_speaker = gap_s < rule.sticky_gap_s
    needed_p = rule.switch if same_speaker else rule.confident
    needed_s = rule.switch_speech_s if same_speaker else rule.min_speech_s
    if probability >= needed_p and speech_s >= needed_s:
        return LanguageChoice(candidate, True)
    return LanguageChoice(previous, final)


def _with_hint(candidate: str, probability: float, previous: str | None, speech_s: float,
               gap_s: float, final: bool, rule: LanguageRule, hint: str,
               held_s: float) -> LanguageChoice:
    if candidate == hint:
        # The declared language: a speaker going on in it when nothing else was heard;
        # back to it after a switch without the same-speaker bar.
        if previous in (None, hint):
            return pick_language(candidate, probability, hint, speech_s, gap_s,
                                 final=final, rule=rule)
        return pick_language(candidate, probability, previous, speech_s,
                             max(gap_s, rule.sticky_gap_s), final=final, rule=rule)
    if previous == candidate:
        # The speaker switched (a settled utterance in it) and goes on in it.
        return pick_language(candidate, probability, previous, speech_s, gap_s,
                             final=final, rule=rule)
    sure = probability >= rule.hint_switch
    if sure and speech_s + held_s >= rule.hint_switch_speech_s:
        return LanguageChoice(candidate, True)
    if not final and probability >= rule.same_sure and speech_s >= rule.same_speech_s:
        # Decoded in, unsettled, as without a hint: if the speaker does switch, the
        # screens show their words rather than a translation meanwhile.
        return LanguageChoice(candidate, False)
    return LanguageChoice(hint, final, held_s=speech_s + held_s if sure else 0.0)
