"""Guards against Whisper's failure modes on live audio. Pure functions over words.

Whisper invents text on silence, noise, applause and music ("Thank you for watching",
«Продолжение следует...», subtitle credits), loops on repeated phrases, and sometimes
echoes its prompt. These checks run on every decoding pass before anything is shown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from captioner.events import Segment, Word

# Phrases Whisper produces from silence or noise (from subtitle credits in its training
# data). Compared after normalisation; a segment made only of these is dropped.
HALLUCINATIONS = tuple(sorted({
    "thank you for watching", "thanks for watching", "thank you so much for watching",
    "thank you very much for watching", "please subscribe", "like and subscribe",
    "subscribe to my channel", "subtitles by the amara org community",
    "transcribed by esoteric", "transcription by castingwords", "see you next time",
    "bye bye", "thank you", "you", "so", "the end", "music", "applause", "laughter",
    "продолжение следует", "спасибо за просмотр", "спасибо за внимание",
    "субтитры сделал dimatorzok", "субтитры создавал dimatorzok", "редактор субтитров",
    "корректор", "субтитры подготовлены", "подписывайтесь на канал", "ставьте лайки",
    "до новых встреч", "всем пока", "музыка", "аплодисменты", "смех",
    "субтитры делал dimatorzok", "dimatorzok",
}, key=len, reverse=True))
# Short phrases that are real speech too often: only dropped when the model is unsure.
_WEAK = {"thank you", "you", "so", "bye bye", "спасибо за внимание", "до новых встреч",
         "всем пока", "see you next time"}

_NON_SPEECH = re.compile(r"^\s*[\[(*♪♫#][^\])*]*[\])*♪♫#]?\s*$")
# A "word" of only punctuation or underscores ("____", "..."), but not a sign people say.
_JUNK = re.compile(r"^[\W_]+$")
_SAID_SIGNS = set("%$€£№+&")

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def _is_junk(text: str) -> bool:
    """Only punctuation or underscores, and no sign a speaker says ("%", "$")."""
    text = text.strip()
    return bool(_JUNK.match(text)) and not set(text) & _SAID_SIGNS


def normalise(text: str) -> str:
    """Lower case, ё as е, no punctuation, single spaces."""
    text = text.lower().replace("ё", "е")
    return " ".join(_PUNCT.sub(" ", text).split())


def is_hallucination(text: str, confident: bool = False) -> bool:
    """True when ``text`` is only a phrase Whisper is known to invent.

    Args:
        text: Segment text.
        confident: The model was sure (high log-probability, speech detected); then the
            weak phrases that real speakers also say ("thank you") are kept.
    """
    norm = normalise(text)
    if not norm:
        return True
    if _NON_SPEECH.match(text):
        return True
    for phrase in HALLUCINATIONS:
        if norm == phrase or (norm.startswith(phrase) and len(phrase) > 12
                              and norm.replace(phrase, "").strip() == ""):
            return not (confident and phrase in _WEAK)
    return False


MAX_COMPRESSION = 2.4


def unreliable_because(seg: Segment, *, max_compression: float = MAX_COMPRESSION,
                       min_logprob: float = -1.2, no_speech: float = 0.6) -> str | None:
    """Why Whisper's own confidence figures reject a segment, as its temperature-fallback
    rules use them, or None when they do not: ``"repetitive"`` (looping text, a high
    compression ratio), ``"low confidence"`` (very unlikely text) or ``"no speech"``
    (text on audio the model itself thinks is not speech)."""
    if seg.compression_ratio > max_compression:
        return "repetitive"
    if seg.avg_logprob < min_logprob:
        return "low confidence"
    if seg.no_speech_prob > no_speech and seg.avg_logprob < -0.7:
        return "no speech"
    return None


def segment_is_reliable(seg: Segment, *, max_compression: float = MAX_COMPRESSION,
                        min_logprob: float = -1.2, no_speech: float = 0.6) -> bool:
    """Whether :func:`unreliable_because` finds nothing against the segment."""
    return unreliable_because(seg, max_compression=max_compression, min_logprob=min_logprob,
                              no_speech=no_speech) is None


def cut_repetitions(words: Sequence[Word], max_ngram: int = 6, max_repeats: int = 2) -> list[Word]:
    """Removes loops: an n-gram repeated more than ``max_repeats`` times in a row is cut.

    "the the the the" keeps "the the"; "we will we will we will" keeps two of them.
    """
    out = list(words)
    changed = True
    while changed:
        changed = False
        keys = [normalise(w.text) for w in out]
        for n in range(1, max_ngram + 1):
            i = 0
            while i + n * (max_repeats + 1) <= len(out):
                gram = keys[i:i + n]
                reps = 1
                while keys[i + reps * n:i + (reps + 1) * n] == gram:
                    reps += 1
                if reps > max_repeats and any(gram):
                    del out[i + max_repeats * n:i + reps * n]
                    changed = True
                    break
                i += 1
            if changed:
                break
    return out


def before_loop(words: Sequence[Word], max_ngram: int = 16, copies: int = 3) -> list[Word]:
    """The words of a looping hypothesis before the loop, or [] when no loop is found.

    On short live windows Whisper often transcribes the speech correctly and then loops
    ("that is to say that is to say ...", "journals ______"), and the whole segment
    fails the compression-ratio check. Dropping it leaves the screen empty for a pass or
    two (seconds of latency); the words before the loop are as good as any.
    """
    keys = [normalise(w.text) or w.text.strip() for w in words]
    for i, word in enumerate(words):
        if _is_junk(word.text):
            return list(words[:i])
        for n in range(1, max_ngram + 1):
            gram = keys[i:i + n]
            if len(gram) == n and all(gram) and all(
                    keys[i + k * n:i + (k + 1) * n] == gram for k in range(1, copies)):
                return list(words[:i + n])
    return []


def cut_squeezed(words: Sequence[Word], run: int = 3, min_s: float = 0.05) -> list[Word]:
    """Drops runs of ``run`` or more words squeezed into no time, and a squeezed word
    that repeats the word before it.

    Real words take time; words the aligner could not place in the audio (Whisper
    echoing its prompt at the start of the window, or looping at its end) all get one
    timestamp. A speaker who repeats a word ("we, we need") says it twice; "account
    of@17.62-18.76 of@18.76-18.76" (the English lecture) is one "of".
    """
    out: list[Word] = []
    pending: list[Word] = []
    for word in words:
        if word.end_s - word.start_s < min_s:
            previous = (pending or out)[-1:]
            if previous and normalise(previous[0].text) == normalise(word.text):
                continue
            pending.append(word)
            continue
        if len(pending) < run:
            out.extend(pending)
        pending = []
        out.append(word)
    if len(pending) < run:
        out.extend(pending)
    return out


def cut_phrase_echo(words: Sequence[Word], min_len: int = 3) -> list[Word]:
    """Cuts a hypothesis where a phrase of ``min_len``+ words repeats immediately.

    People repeat a word ("we, we need"), hardly ever a whole phrase back to back,
    while Whisper on a short window restarts its phrase ("However, due to the slow
    channels, however, due to the slow channels").
    """
    keys = [normalise(w.text) for w in words]
    n = len(keys)
    for i in range(n):
        for size in range(min_len, (n - i) // 2 + 1):
            if keys[i:i + size] == keys[i + size:i + 2 * size] and all(keys[i:i + size]):
                return list(words[:i + size])
    return list(words)


def strip_non_speech_words(words: Sequence[Word]) -> list[Word]:
    """Drops bracketed sound labels ("[Music]", "(аплодисменты)", "♪"), empty words and
    words of only punctuation or underscores."""
    return [w for w in words if w.text.strip() and not _NON_SPEECH.match(w.text)
            and not _is_junk(w.text)]


def strip_prompt_echo(words: Sequence[Word], prompt: str, min_words: int = 3) -> list[Word]:
    """Drops leading words that repeat the end of the prompt (Whisper echoing context)."""
    prompt_keys = normalise(prompt).split()
    keys = [normalise(w.text) for w in words]
    if not prompt_keys or not keys:
        return list(words)
    best = 0
    for n in range(min(len(prompt_keys), len(keys)), min_words - 1, -1):
        if keys[:n] == prompt_keys[-n:]:
            best = n
            break
    return list(words[best:])


def clean_segments(segments: Sequence[Segment], prompt: str = "",
                   audio_end_s: float | None = None,
                   rejected: list[str] | None = None) -> list[Word]:
    """Applies every guard and returns the words worth showing, in order.

    Args:
        segments: One pass's segments.
        prompt: The prompt the pass was given (its echo is removed).
        audio_end_s: Stream time where the decoded audio ends; words that start after
            it are invented (Whisper squeezes looped text in at the very end).
        rejected: Told why each segment with text was dropped whole: a reason of
            :func:`unreliable_because`, ``"loop"`` or ``"hallucination"``.
    """
    words: list[Word] = []
    reasons = rejected if rejected is not None else []
    for seg in segments:
        seg_words = list(seg.words)
        max_compression = MAX_COMPRESSION
        if seg.compression_ratio > MAX_COMPRESSION:
            # A loop: keep what came before it, judged on Whisper's other figures.
            seg_words = before_loop(seg_words)
            if not seg_words:
                reasons.append("loop")
                continue
            seg = replace(seg, text="".join(w.text for w in seg_words))
            max_compression = float("inf")
        seg_words = strip_non_speech_words(seg_words)
        reason = unreliable_because(seg, max_compression=max_compression)
        if reason is not None:
            reasons.append(reason)
            continue
        confident = seg.avg_logprob > -0.5 and seg.no_speech_prob < 0.3
        if is_hallucination(seg.text, confident=confident):
            reasons.append("hallucination")
            continue
        words.extend(seg_words)
    words = strip_prompt_echo(words, prompt)
    if audio_end_s is not None:
        words = [w for w in words if w.start_s < audio_end_s - 0.05]
    return cut_phrase_echo(cut_repetitions(cut_squeezed(words)))
