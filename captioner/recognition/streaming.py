"""The streaming policy: which words are provisional, which are committed. No model inside.

Each decoding pass re-transcribes the audio of the current utterance since the last
trim point and gives a hypothesis (a list of timed words). Words that two consecutive
hypotheses agree on are committed (LocalAgreement-2, as in ufal/whisper_streaming); the
rest are shown as a partial caption that later passes may replace. When the speaker
pauses, a final pass commits everything. Committed words never change.

The audio buffer is trimmed at committed word boundaries, so each pass decodes a
bounded stretch of audio however long the session runs.
"""

from __future__ import annotations

import difflib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from captioner.events import Caption, Word
from captioner.recognition.guards import normalise

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamingParams:
    """Policy settings.

    Attributes:
        trim_after_s: Once the buffer is longer than this, it is cut at the last
            committed word, so passes stay short.
        max_buffer_s: Hard cap: past it, the oldest tentative words are committed as
            they stand, so latency and cost cannot grow without bound.
        prompt_chars: How much committed text of the same language feeds the prompt.
        overlap_tolerance_s: A word ending this little after the last committed word
            is taken as that word read again (timestamps jitter between passes). Only
            there: where the commit point is not a word's end (an utterance's start),
            every word that ends after it is new.
        stale_after_s: A tentative word that ended this long before the decoded audio's
            end is committed as it stands: it has been through several passes by then,
            and holding it longer only adds latency.
        right_context_s: An agreed word is committed only once this much audio follows
            it: two passes that both cut a word short can agree on the wrong word.
        read_alike: One disputed word that two passes spell alike does not stop the
            agreement when the next two words agree (see ``_agreement``).
        disputed_context_s: ...but the disputed word, and the words after it, wait
            until this much audio follows it: while little audio follows, both readings
            are guesses (en_fleurs_001: "nails", then "Niles", for "nouns").
        skip_gap_s: A word that ends this long after the word before it (or the
            commit point) stands for speech the pass did not make out: the voice
            activity detector ends an utterance after 0.5 s of silence, and no word
            takes a second. Such a word and those after it wait for the final pass
            while the buffer is under half of ``max_buffer_s``. On en_fleurs_002,
            passes decoding from "Sintra" heard only "the", stretched over 2.6 s; it
            was committed, the buffer was trimmed after it, and "Sintra, in which was
            made famous to" was never captioned.
        opening_s: After a change of language, an utterance's first words are committed
            only from passes that agree after each has heard this much of its speech.
            Two passes over its first seconds agree on misreadings right after a change
            of speaker: "All networks are more" (for "All nouns alongside the word") was
            committed from passes of 2.2 and 2.7 s, where passes of 3 s and more read
            it right.
            On bench.switches' panel (simulated clock), English WER over offline went
            from +5.7 to +3.6 points with 2 s (+3.1 with 3 s), Russian stayed level, and
            committed latency went from 1.73 / 2.42 s (median / p90) to 1.91 / 3.04 s
            (2.14 / 3.92 s with 3 s) under the cost model (bench/RESULTS.md). Applied to
            every utterance, it cost the single-language clips of bench.latency 0.3 s of
            median and 0.9 s of p90 for no better text, so a speaker going on in the
            language of the utterance before, and a stream's first utterance, go without.
    """

    trim_after_s: float = 5.0
    max_buffer_s: float = 16.0
    opening_s: float = 2.0
    stale_after_s: float = 3.0
    right_context_s: float = 0.3
    prompt_chars: int = 160
    overlap_tolerance_s: float = 0.15
    read_alike: bool = True
    disputed_context_s: float = 1.5
    skip_gap_s: float = 1.8


# A single word is the weakest evidence of where the committed text ends: "the",
# committed from "the role of the men" (a pass cut inside "development"), was found
# again 0.58 s earlier, before "role", in a final pass that heard no second "the", and
# the captions read "the role of the role of development" (en_welcome, CI). Passes
# place a word within about 0.1 s of each other.
ONE_WORD_NEAR_S = 0.3


# A final pass whose words end within this share of the shown words' time failed (see
# StreamingPolicy._fell_short): a provisional tail it rightly drops, a "Thank you." read
# into the silence after the speech, is a short part of what the screens show.
FELL_SHORT = 1 / 3


def _key(word: Word) -> str:
    return normalise(word.text)


def _same_word(a: str, b: str) -> bool:
    if not a or not b:
        return False
    if a == b:
        return True
    return min(len(a), len(b)) >= 6 and difflib.SequenceMatcher(None, a, b).ratio() >= 0.8


def _is_number(word: Word) -> bool:
    return any(ch.isdigit() for ch in word.text)


def _alike(a: str, b: str) -> bool:
    """Two readings of one stretch of speech that look alike (half their letters)."""
    a, b = a.replace(" ", ""), b.replace(" ", "")
    return bool(a and b) and difflib.SequenceMatcher(None, a, b).ratio() >= 0.5


def _join(words: Sequence[Word]) -> str:
    return "".join(w.text for w in words).strip()


@dataclass
class _Utterance:
    index: int
    lang: str | None = None
    lang_locked: bool = False
    revision: int = 0
    committed: list[Word] = field(default_factory=list)
    tentative: list[Word] = field(default_factory=list)
    # The last pass skipped speech (see skip_gap_s): the next goes without a prompt.
    skipping: bool = False
    # Where the voice activity detector heard the speech start, and where the audio of
    # the pass that gave the tentative words ended (see opening_s).
    speech_start_s: float = 0.0
    tentative_end_s: float | None = None

    def opening(self, opening_s: float) -> bool:
        """Whether nothing is committed yet and the tentative words come from a pass that
        heard less than ``opening_s`` of the speech."""
        return not self.committed and (self.tentative_end_s is None or
                                       self.tentative_end_s - self.speech_start_s < opening_s)


class StreamingPolicy:
    """Turns successive hypotheses for one input into partial and committed captions.

    Args:
        input_id: The input this policy follows (``floor``, ``booth``...).
        params: Settings.
        clock_ns: Wall clock for ``emitted_ns`` (injected for tests).
        source: Caption source label for this input.
    """

    def __init__(self, input_id: str, params: StreamingParams = StreamingParams(),
                 clock_ns: Callable[[], int] = time.time_ns, source: str = "floor") -> None:
        self.input_id = input_id
        self.params = params
        self.clock_ns = clock_ns
        self.source = source
        self.buffer_start_s = 0.0
        self.commit_point_s = 0.0
        # Where this input's last committed word ends (the commit point may be later:
        # the start of an utterance after a pause, or a slid buffer).
        self._last_word_end_s = float("-inf")
        self._utt: _Utterance | None = None
        self._utt_count = 0
        # Committed text per language as (end_s, text) pieces, for the prompt.
        self._history: dict[str, list[tuple[float, str]]] = {}
        # The language the last utterance with committed words was in (see opening_s).
        self._previous_lang: str | None = None

    # -- utterance boundaries -------------------------------------------------------

    @property
    def active(self) -> bool:
        return self._utt is not None

    @property
    def lang(self) -> str | None:
        return self._utt.lang if self._utt else None

    @property
    def lang_locked(self) -> bool:
        return bool(self._utt and self._utt.lang_locked)

    @property
    def has_committed(self) -> bool:
        """Whether the current utterance has committed words."""
        return bool(self._utt and self._utt.committed)

    def relabel(self, lang: str) -> None:
        """The utterance is to be decoded again in ``lang``, settled (a retry of a final
        pass that gave nothing: see ``InputWorker._final_pass``)."""
        if self._utt is not None:
            self._utt.lang, self._utt.lang_locked = lang, True

    @property
    def word_ends(self) -> list[float]:
        """Where the current utterance's committed words end: the places audio can be
        cut without cutting a word."""
        return [w.end_s for w in self._utt.committed] if self._utt else []

    @property
    def utterance_id(self) -> str | None:
        return f"{self.input_id}-{self._utt.index}" if self._utt else None

    def start_utterance(self, at_s: float, speech_start_s: float | None = None) -> None:
        """The buffer starts at ``at_s``, a little before the speech, which the voice
        activity detector heard start at ``speech_start_s`` (default: ``at_s``)."""
        self._utt_count += 1
        self._utt = _Utterance(self._utt_count,
                               speech_start_s=at_s if speech_start_s is None else speech_start_s)
        self.buffer_start_s = max(at_s, self.commit_point_s)
        self.commit_point_s = self.buffer_start_s

    def set_language(self, lang: str, locked: bool) -> None:
        """The utterance's language: identified (maybe re-checked later) or forced."""
        if self._utt is not None and not self._utt.lang_locked:
            if self._utt.lang not in (None, lang):
                # Words heard in the other language cannot agree with these.
                self._utt.tentative = []
            self._utt.lang = lang
            self._utt.lang_locked = locked

    def prompt(self, lang: str | None = None, before_s: float | None = None) -> str:
        """Recent committed text in ``lang`` (default: the utterance's language) whose
        audio ends before ``before_s`` (default: the buffer's start).

        The prompt must be in the language the pass decodes in: Whisper told to write
        Russian after an English prompt goes on in English (a translation).
        """
        lang = lang or self.lang
        if lang is None or (self._utt is not None and self._utt.skipping):
            # With the prompt, passes from "Sintra" on heard "the", or "the city of
            # St."; without it, "Cintra and which was made famous..." (en_fleurs_002).
            return ""
        # Only text whose audio is no longer in the buffer: words still in the buffer
        # would be taken as already said, and Whisper would skip them.
        before_s = self.buffer_start_s if before_s is None else before_s
        pieces = [text for end_s, text in self._history.get(lang, [])
                  if end_s <= before_s + 0.05]
        text = " ".join(pieces)
        if len(text) <= self.params.prompt_chars:
            return text
        # Cut at a word boundary: a word's tail ("nswer") reads as a different word.
        tail = text[-self.params.prompt_chars:]
        return tail.split(" ", 1)[1] if " " in tail else ""

    # -- passes ------------------------------------------------------------------------

    def on_hypothesis(self, words: Sequence[Word], audio_end_s: float,
                      final: bool = False) -> list[Caption]:
        """Takes the cleaned words of one pass over [buffer_start_s, audio_end_s].

        Args:
            words: Hypothesis words with stream times, guards already applied.
            audio_end_s: Stream time of the end of the decoded audio.
            final: The speaker paused: commit everything.

        Returns:
            Captions to emit: at most one committed caption (new words only), then at
            most one partial caption (the tentative tail), in that order.
        """
        utt = self._utt
        if utt is None:
            return []
        fresh = self._after_commit_point(words)
        reached = bool(words) and (
            words[-1].end_s + self.params.overlap_tolerance_s >= self.commit_point_s)
        if final and not reached and utt.committed:
            # The final pass did not even hear the committed words it reached back
            # into: the pass failed, and the words the screens show are the only
            # reading there is. They are committed, not lost. On ru_welcome, a start
            # inside a word garbled the segment and the guards dropped it whole; from
            # a word's end, Whisper wrote the prompt's first words again, squeezed
            # before the committed ones, and "нашими странами." was lost.
            to_commit, tentative = list(utt.tentative), []
            if to_commit:
                log.debug("%s: final pass stopped short of the committed words; "
                          "committing %r as shown", self.input_id, _join(to_commit))
        elif final and self._fell_short(utt, fresh, audio_end_s):
            # The final pass heard the audio of the words the screens show and made out
            # only the first of them: it failed, and the provisional reading is the
            # better one. en_pisets_neural_networks at -35 dBFS: "Neural Networks are
            # good" from the last provisional pass, "Ne Ne" from the final one.
            log.debug("%s: final pass read %r where the last pass read %r; committing "
                      "that", self.input_id, _join(fresh), _join(utt.tentative))
            to_commit, tentative = list(utt.tentative), []
        elif final:
            # The final pass (longer window, more context) has the last word.
            to_commit, tentative = fresh, []
        elif not utt.lang_locked or self._opening_after_a_switch(utt):
            # While the language is unsettled the words may be a translation (Whisper
            # decoding Russian "in English"), and right after a change of language the
            # first words wait for passes that heard enough of the speech (opening_s):
            # show them, commit nothing yet, unless they are about to leave the bounded
            # buffer.
            cap = audio_end_s - self.params.max_buffer_s
            to_commit = [w for w in fresh if w.end_s <= cap]
            tentative = fresh[len(to_commit):]
        else:
            agreed, disputed = self._agreement(utt.tentative, fresh, self.params.read_alike)
            to_commit = fresh[:agreed]
            if disputed is not None and fresh[disputed].end_s > (
                    audio_end_s - self.params.disputed_context_s):
                del to_commit[disputed:]
            ready = audio_end_s - self.params.right_context_s
            # A number that ends the hypothesis may go on: Whisper writes "шестьсот"
            # as 600 until it hears "четырнадцать" and writes 614 (seen on
            # ru_silero_numbers: "Марина 600 614"). It waits for a word after it, and
            # one that is not a number ("600 -14" is 614 still being heard).
            while to_commit and (to_commit[-1].end_s > ready or (
                    _is_number(to_commit[-1]) and (len(to_commit) == len(fresh)
                                                   or _is_number(fresh[len(to_commit)])))):
                to_commit.pop()
            tentative = fresh[len(to_commit):]
            # Latency cap: words this old are committed even without agreement, once a
            # previous pass heard this language (not on the first pass after a switch).
            overdue = audio_end_s - min(self.params.stale_after_s, self.params.max_buffer_s)
            while utt.tentative and tentative and tentative[0].end_s <= overdue:
                to_commit.append(tentative.pop(0))
            skip = self._skipped_speech(fresh, audio_end_s)
            utt.skipping = skip is not None
            if skip is not None and skip < len(to_commit):
                log.debug("%s: speech not made out before %r; held for the final pass",
                          self.input_id, fresh[skip].text)
                to_commit, tentative = fresh[:skip], fresh[skip:]
        out: list[Caption] = []
        if to_commit:
            out.append(self._commit(utt, to_commit))
        had_partial = bool(utt.tentative)
        utt.tentative = tentative
        utt.tentative_end_s = audio_end_s
        # An empty partial clears what the screens show when the words it held were
        # neither confirmed nor replaced (the final pass heard nothing there).
        if tentative or (had_partial and not to_commit):
            utt.revision += 1
            out.append(self._caption(utt, tentative, final=False))
        if not final:
            self._maybe_trim(audio_end_s)
        return out

    def heard_past_commit(self, words: Sequence[Word]) -> bool:
        """Whether a pass heard a word ending after the committed ones (beyond the
        jitter of a committed word read again)."""
        return bool(words) and (
            words[-1].end_s > self.commit_point_s + self.params.overlap_tolerance_s)

    @staticmethod
    def _fell_short(utt: _Utterance, fresh: Sequence[Word], audio_end_s: float) -> bool:
        """Whether a final pass over all of the tentative words' audio gave words, but
        fewer than they are, over less than a third of their time (see FELL_SHORT)."""
        shown = utt.tentative
        if not fresh or not shown or len(fresh) >= len(shown) or (
                audio_end_s < shown[-1].end_s):
            return False
        span = shown[-1].end_s - shown[0].start_s
        return fresh[-1].end_s - shown[0].start_s < FELL_SHORT * span

    def _opening_after_a_switch(self, utt: _Utterance) -> bool:
        return (utt.opening(self.params.opening_s) and self._previous_lang is not None
                and utt.lang != self._previous_lang)

    def end_utterance(self) -> None:
        """Closes the utterance after its final pass."""
        if self._utt is not None and self._utt.committed and self._utt.lang:
            self._previous_lang = self._utt.lang
        self._utt = None

    # -- internals ---------------------------------------------------------------------

    def _after_commit_point(self, words: Sequence[Word]) -> list[Word]:
        """The hypothesis words that follow what is already committed.

        Word times jitter between passes by a word or so, so the committed tail is
        first looked for by its text near the commit point; only when it is not found
        are words cut by time. Three or two words of it are looked for within a
        second of the commit point, and so is its last word alone when the hypothesis
        starts with it (stretched over the silence before the next word, "And" ended
        0.9 s later than committed); anywhere else, one word within ``ONE_WORD_NEAR_S``.
        """
        utt = self._utt
        if utt and utt.committed and words:
            keys = [_key(w) for w in words]
            for n in (3, 2, 1):
                tail = [_key(w) for w in utt.committed[-n:]]
                if len(tail) < n or not all(tail):
                    continue
                # The occurrence nearest the commit point: "in the journals and in
                # the literature" holds two of a committed "in the" (the lecture).
                found = [(abs(words[i + n - 1].end_s - self.commit_point_s), i)
                         for i in range(len(words) - n + 1) if keys[i:i + n] == tail]
                near = [(off, i) for off, i in found
                        if off <= (1.0 if n > 1 or i == 0 else ONE_WORD_NEAR_S)]
                if near:
                    return list(words[min(near)[1] + n:])
        # The tolerance is for a committed word's end read a little later; where no
        # word ends at the commit point, a word ending just after it is new: "Он" at
        # 0.00-0.14 s, the first word of ru_tinkoff_sample_3, was never captioned.
        tol = (self.params.overlap_tolerance_s
               if self.commit_point_s <= self._last_word_end_s else 0.0)
        fresh = [w for w in words if w.end_s > self.commit_point_s + tol]
        # The last committed word read again, longer ("центра." then "центральные"):
        # most of its audio is before the commit point, and it reads alike.
        if utt and utt.committed and fresh:
            first, last = fresh[0], utt.committed[-1]
            if ((first.start_s + first.end_s) / 2 < self.commit_point_s
                    and _alike(_key(first), _key(last))):
                log.debug("%s: %r read again as %r; not committed twice", self.input_id,
                          last.text, first.text)
                fresh = fresh[1:]
        return fresh

    def _skipped_speech(self, fresh: Sequence[Word], audio_end_s: float) -> int | None:
        """Index of the first word that ends over ``skip_gap_s`` after the one before
        it (the first after the commit point, once words are committed), if any."""
        utt = self._utt
        if audio_end_s - self.buffer_start_s >= self.params.max_buffer_s / 2:
            return None
        previous = self.commit_point_s if utt and utt.committed else None
        for i, word in enumerate(fresh):
            if previous is not None and word.end_s - previous > self.params.skip_gap_s:
                return i
            previous = word.end_s
        return None

    @staticmethod
    def _agreement(previous: Sequence[Word], current: Sequence[Word],
                   read_alike: bool = True) -> tuple[int, int | None]:
        """How many words of the current hypothesis the previous one confirms, and the
        index of the first disputed word among them (None: there is none).

        The common prefix of the two, where long words that differ by a letter
        ("Штирльц"/"Штирлиц") still agree. One disputed word that the two passes spell
        alike ("How is going to" against "Who's going to") does not hold back the rest
        when the next two words agree again: the newer reading is taken, as the latency
        cap would take it a few passes later anyway. Words one pass has and the other
        lacks, or readings that share little ("DVD" against "дивиденды"), stop the
        agreement there.
        """
        prev = [_key(w) for w in previous]
        cur = [_key(w) for w in current]

        def same(i: int, j: int, n: int = 1) -> bool:
            return i + n <= len(prev) and j + n <= len(cur) and all(
                _same_word(prev[i + k], cur[j + k]) for k in range(n))

        i = j = agreed = 0
        disputed = None
        while i < len(prev) and j < len(cur):
            if same(i, j):
                i, j = i + 1, j + 1
                agreed = j
                continue
            if not read_alike:
                break
            for skip_prev, skip_cur in ((1, 1), (1, 2), (2, 1)):
                old, new = prev[i:i + skip_prev], cur[j:j + skip_cur]
                # One word against two that contain it is a word dropped, not a reading.
                dropped = any(_same_word(a, b) for a in old for b in new)
                if (same(i + skip_prev, j + skip_cur, 2) and not dropped
                        and _alike(" ".join(old), " ".join(new))):
                    disputed = j if disputed is None else disputed
                    i, j = i + skip_prev, j + skip_cur
                    break
            else:
                break
        return agreed, disputed

    def _commit(self, utt: _Utterance, words: list[Word]) -> Caption:
        caption = self._caption(utt, words, final=True)
        utt.committed.extend(words)
        utt.lang_locked = True
        self.commit_point_s = max(self.commit_point_s, words[-1].end_s)
        self._last_word_end_s = words[-1].end_s
        lang = utt.lang or "?"
        pieces = self._history.setdefault(lang, [])
        pieces.append((words[-1].end_s, caption.text))
        del pieces[:-20]
        return caption

    def _caption(self, utt: _Utterance, words: Sequence[Word], final: bool) -> Caption:
        return Caption(
            id=f"{self.input_id}-{utt.index}",
            final=final,
            lang=utt.lang or "?",
            text=_join(words),
            start_s=words[0].start_s if words else self.commit_point_s,
            end_s=words[-1].end_s if words else self.commit_point_s,
            emitted_ns=self.clock_ns(),
            source=self.source,  # type: ignore[arg-type]
            input_id=self.input_id,
            revision=utt.revision,
            words=tuple(words),
        )

    def _maybe_trim(self, audio_end_s: float) -> None:
        """Moves the buffer start to the commit point once the buffer is long."""
        if audio_end_s - self.buffer_start_s > self.params.trim_after_s:
            self.buffer_start_s = max(self.buffer_start_s, self.commit_point_s)
        # Speech with no usable words (noise the VAD took for speech) must not grow the
        # buffer either: slide it, keeping the last max_buffer_s.
        floor = audio_end_s - self.params.max_buffer_s
        if self.buffer_start_s < floor:
            self.buffer_start_s = floor
            self.commit_point_s = max(self.commit_point_s, floor)
