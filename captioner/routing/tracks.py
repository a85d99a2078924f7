"""Caption tracks per language, and where each is fed from. Pure: no model, no I/O.

Each language track (ru, en) is fed, in order of preference:

1. the floor transcript, when the speaker uses that language;
2. the interpreters' booth transcript, when a booth input carries speech in it;
3. machine translation of the floor's committed captions.

:class:`TrackRouter` sees every caption the inputs produce and decides what each track
shows, and which floor captions still need machine translation.
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass

from captioner.events import Caption, Speaker
from captioner.languages import LANGUAGES, other

#: Floor utterances remembered for the booth, which lags the floor by seconds, not minutes.
FLOOR_UTTERANCES_KEPT = 64


@dataclass(frozen=True)
class Routed:
    """The router's answer for one caption.

    Attributes:
        publish: Captions to show now (on their ``lang`` track).
        translate: A committed floor caption that the other track needs translated.
    """

    publish: tuple[Caption, ...] = ()
    translate: Caption | None = None


class TrackRouter:
    """Decides what each track shows.

    - A floor caption is shown on its own language's track. A committed one is handed
      on for machine translation into the other language, unless the booth spoke that
      language within ``booth_hold_s`` (the interpreters already feed that track).
    - A booth caption in the language the floor is speaking is not shown (a relay, or
      the booth microphone picking up the room). Once a booth utterance is shown, the
      rest of it is shown too, even if the floor has switched languages meanwhile.
    - Machine captions pass through.
    - A booth caption carries the speaker of the floor utterance it interprets: the
      floor utterance that began last before the booth's utterance began (the booth
      follows the floor by seconds, so it may still be rendering the previous speaker
      when the next one starts).
    - When an input's next caption moves to another track (its language changed, or a
      booth utterance is no longer shown), an empty partial withdraws the partial it
      left on the old track.

    Args:
        booth_hold_s: After the booth last produced text in a language, machine
            translation into that language is held back this long (stream seconds).
        translate: Whether machine translation is wanted at all.
    """

    def __init__(self, booth_hold_s: float = 10.0, translate: bool = True) -> None:
        self.booth_hold_s = booth_hold_s
        self.translate_enabled = translate
        self._booth_last_s: dict[str, float] = {}
        self._floor_lang: str | None = None
        # Per booth input: (utterance id, lang) of the interpretation being shown. Once
        # shown, an utterance is shown to its end even if the floor switches languages
        # meanwhile (interpreters lag the floor by seconds, so the floor often switches
        # before the booth's last words of the previous speech are committed).
        self._booth_shown: dict[str, tuple[str, str]] = {}
        # Per input: (utterance id, lang, revision, speaker) of a non-empty partial on
        # screen.
        self._open_partial: dict[str, tuple[str, str, int, Speaker | None]] = {}
        # The floor's recent utterances, ordered by start time: (start_s, speaker), each
        # once, though several floor inputs' captions interleave.
        self._floor_utts: list[tuple[float, Speaker | None]] = []
        # Per floor input: the id of its utterance in progress.
        self._floor_current: dict[str, str] = {}
        # Per booth input: (utterance id, speaker) of the interpretation in progress.
        self._booth_speaker: dict[str, tuple[str, Speaker | None]] = {}

    def booth_live(self, lang: str, now_s: float) -> bool:
        """True when the booth spoke ``lang`` within the hold time before ``now_s``."""
        last = self._booth_last_s.get(lang)
        return last is not None and now_s - last <= self.booth_hold_s

    def route(self, caption: Caption) -> Routed:
        """Routes one caption from any input."""
        if caption.source == "machine":
            return Routed(publish=(caption,))
        if caption.source == "interpretation":
            return self._from_booth(self._interpreted(caption))
        if self._floor_current.get(caption.input_id) != caption.id:
            self._floor_current[caption.input_id] = caption.id
            bisect.insort(self._floor_utts, (caption.start_s, caption.speaker),
                          key=lambda utt: utt[0])
            del self._floor_utts[:-FLOOR_UTTERANCES_KEPT]
        if caption.lang in LANGUAGES:
            self._floor_lang = caption.lang
        want_mt = (caption.final and self.translate_enabled and caption.lang in LANGUAGES
                   and bool(caption.text)
                   and not self.booth_live(other(caption.lang), caption.end_s))
        return Routed(publish=self._show(caption),
                      translate=caption if want_mt else None)

    def _interpreted(self, caption: Caption) -> Caption:
        """A booth caption with the speaker of the floor utterance it renders."""
        current = self._booth_speaker.get(caption.input_id)
        if current is None or current[0] != caption.id:
            at = bisect.bisect_right(self._floor_utts, caption.start_s,
                                     key=lambda utt: utt[0]) - 1
            current = (caption.id, self._floor_utts[at][1] if at >= 0 else None)
            self._booth_speaker[caption.input_id] = current
        if caption.speaker == current[1]:
            return caption
        return dataclasses.replace(caption, speaker=current[1])

    def _from_booth(self, caption: Caption) -> Routed:
        # Interpreters speak the language the floor is not using; booth text in the
        # floor's own language (a relay, or the booth mic catching the room) is not shown.
        shown = self._booth_shown.get(caption.input_id)
        keep = shown == (caption.id, caption.lang) or (
            caption.lang in LANGUAGES and caption.lang != self._floor_lang)
        if not keep:
            return Routed(publish=self._withdraw(caption))
        self._booth_shown[caption.input_id] = (caption.id, caption.lang)
        if caption.text:
            self._booth_last_s[caption.lang] = max(self._booth_last_s.get(caption.lang, 0.0),
                                                   caption.end_s)
        return Routed(publish=self._show(caption))

    def _show(self, caption: Caption) -> tuple[Caption, ...]:
        """``caption``, after withdrawing a partial of its input left on another track."""
        out = self._withdraw(caption)
        if not caption.final and caption.text:
            self._open_partial[caption.input_id] = (caption.id, caption.lang, caption.revision,
                                                    caption.speaker)
        elif self._open_partial.get(caption.input_id, ())[:2] == (caption.id, caption.lang):
            # A commit or an empty partial of the same utterance ends the partial.
            del self._open_partial[caption.input_id]
        return (*out, caption)

    def _withdraw(self, caption: Caption) -> tuple[Caption, ...]:
        """An empty partial for the partial this input has on screen, unless ``caption``
        replaces it on the same track (same utterance and language)."""
        open_ = self._open_partial.get(caption.input_id)
        if open_ is None or open_[:2] == (caption.id, caption.lang):
            return ()
        del self._open_partial[caption.input_id]
        old_id, old_lang, revision, speaker = open_
        # The partial's own revision (and speaker), so that no view takes it for an older
        # one or for another speaker's.
        return (dataclasses.replace(caption, id=old_id, final=False, lang=old_lang, text="",
                                    seq=None, revision=revision, words=(), speaker=speaker),)


def machine_caption(origin: Caption, text: str, start_s: float, end_s: float,
                    emitted_ns: int, index: int) -> Caption:
    """A committed machine-translated caption derived from floor text: it names the
    floor utterance it translates and carries that utterance's speaker."""
    return dataclasses.replace(
        origin, id=f"mt-{origin.input_id}-{index}", final=True, lang=other(origin.lang),
        text=text, start_s=start_s, end_s=end_s, emitted_ns=emitted_ns, source="machine",
        seq=None, revision=0, words=(), utterance_id=origin.id, speaker=origin.speaker)
