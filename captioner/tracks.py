"""Caption tracks per language, and where each is fed from. Pure: no model, no I/O.

Each language track (ru, en) is fed, in order of preference:

1. the floor transcript, when the speaker uses that language;
2. the interpreters' booth transcript, when a booth input carries speech in it;
3. machine translation of the floor's committed captions.

:class:`TrackRouter` sees every caption the inputs produce and decides what each track
shows, and which floor captions still need machine translation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from captioner.events import Caption

LANGS = ("ru", "en")


def other(lang: str) -> str:
    return "en" if lang == "ru" else "ru"


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

    def booth_live(self, lang: str, now_s: float) -> bool:
        """True when the booth spoke ``lang`` within the hold time before ``now_s``."""
        last = self._booth_last_s.get(lang)
        return last is not None and now_s - last <= self.booth_hold_s

    def route(self, caption: Caption) -> Routed:
        """Routes one caption from any input."""
        if caption.source == "interpretation":
            return self._from_booth(caption)
        if caption.source == "machine":
            return Routed(publish=(caption,))
        if caption.lang in LANGS:
            self._floor_lang = caption.lang
        want_mt = (caption.final and self.translate_enabled and caption.lang in LANGS
                   and not self.booth_live(other(caption.lang), caption.end_s))
        return Routed(publish=(caption,), translate=caption if want_mt else None)

    def _from_booth(self, caption: Caption) -> Routed:
        # Interpreters speak the language the floor is not using; booth text in the
        # floor's own language (a relay, or the booth mic catching the room) is not shown.
        if caption.lang not in LANGS or caption.lang == self._floor_lang:
            return Routed()
        if caption.text:
            self._booth_last_s[caption.lang] = max(self._booth_last_s.get(caption.lang, 0.0),
                                                   caption.end_s)
        return Routed(publish=(caption,))


def machine_caption(origin: Caption, text: str, start_s: float, end_s: float,
                    emitted_ns: int, index: int) -> Caption:
    """A committed machine-translated caption derived from floor text."""
    return dataclasses.replace(
        origin, id=f"mt-{origin.input_id}-{index}", final=True, lang=other(origin.lang),
        text=text, start_s=start_s, end_s=end_s, emitted_ns=emitted_ns, source="machine",
        seq=None, revision=0, words=())
