"""Sentences: splitting text into sentences and clauses, and joining caption fragments.

Pure text work, with no model inside. Machine translation reads whole sentences: the
:class:`SentenceJoiner` turns committed caption fragments into timed sentences for the
translation stage (:mod:`captioner.routing.mt`), and the Argos engine
(:mod:`captioner.routing.argos`) cuts what it is given with :func:`split_sentences` and,
for a sentence too long to decode at once, :func:`split_clauses`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "st", "vs", "e.g", "i.e",
    "г", "гг", "им", "проф", "тыс", "млн", "млрд", "руб", "ул", "стр", "см",
})
_SENTENCE_END = re.compile(r"[.!?…]+[\"'»”’)\]]*(?=\s|$)")
_CLAUSE_END = re.compile(r"[,;:](?=\s)|(?=\s[—–]\s)")


def sentence_cuts(text: str) -> list[int]:
    """Offsets just after each sentence end in ``text`` (``.``, ``!``, ``?``, ``…``).

    A period after a known abbreviation (``Mr.``, ``млн.``) or a single capital
    (an initial, ``J. Smith``) ends no sentence.
    """
    cuts = []
    for m in _SENTENCE_END.finditer(text):
        if m.group(0) == ".":
            word = re.search(r"([\w.]+)$", text[:m.start()])
            w = word.group(1) if word else ""
            if w.lower() in _ABBREVIATIONS or (len(w) == 1 and w.isupper()):
                continue
        cuts.append(m.end())
    return cuts


def split_sentences(text: str) -> list[str]:
    """Splits text into sentences with :func:`sentence_cuts`; drops empty pieces."""
    out, last = [], 0
    for cut in [*sentence_cuts(text), len(text)]:
        piece = text[last:cut].strip()
        if piece:
            out.append(piece)
        last = cut
    return out


def split_clauses(text: str) -> list[str]:
    """Splits after commas, semicolons, colons and spaced dashes."""
    out, last = [], 0
    for m in _CLAUSE_END.finditer(text):
        piece = text[last:m.end()].strip()
        if piece:
            out.append(piece)
        last = m.end()
    if text[last:].strip():
        out.append(text[last:].strip())
    return out


# ---------------------------------------------------------------------------------------
# Joining caption fragments into sentences

_GLUES_LEFT = ",.!?;:…)]»%"  # a fragment starting with these joins the previous one


@dataclass(frozen=True, slots=True)
class TimedText:
    """Text with the stream times it spans (seconds of audio)."""

    text: str
    start_s: float
    end_s: float


class SentenceJoiner:
    """Buffers committed caption fragments until they make whole sentences.

    Fragments arrive one at a time; a sentence comes out as soon as its end
    (``.``, ``?``, ``!``, ``…``) is seen. When the buffer spans ``max_span_s`` of audio
    or holds ``max_chars`` characters without one, it is cut at its last clause
    boundary (comma, semicolon, colon, dash), or whole if it has none, so the
    translation never waits long. Times inside a fragment are interpolated by
    character position.

    Args:
        max_span_s: Longest audio span to hold before cutting anyway.
        max_chars: Most characters to hold before cutting anyway.
    """

    def __init__(self, max_span_s: float = 4.0, max_chars: int = 200) -> None:
        self.max_span_s = max_span_s
        self.max_chars = max_chars
        self._parts: list[TimedText] = []

    @property
    def pending(self) -> str:
        """The buffered text not yet given out."""
        return self._layout()[0]

    def push(self, text: str, start_s: float, end_s: float) -> list[TimedText]:
        """Adds one committed fragment; returns the sentences it completes (maybe none)."""
        text = " ".join(text.split())
        if not text:
            return []
        self._parts.append(TimedText(text, start_s, max(end_s, start_s)))
        out = []
        while True:
            joined, _ = self._layout()
            cuts = sentence_cuts(joined)
            if cuts:
                out.append(self._take(cuts[0]))
                continue
            if joined and (len(joined) >= self.max_chars or self._span() >= self.max_span_s):
                clauses = [m.end() for m in _CLAUSE_END.finditer(joined)]
                out.append(self._take(clauses[-1] if clauses else len(joined)))
                continue
            return [s for s in out if s.text]

    def poll(self, now_s: float) -> list[TimedText]:
        """Gives out everything once the oldest buffered audio is ``max_span_s`` old."""
        if self._parts and now_s - self._parts[0].start_s >= self.max_span_s:
            return self.flush()
        return []

    def flush(self) -> list[TimedText]:
        """Gives out whatever is buffered (at the end of an utterance or session)."""
        joined, _ = self._layout()
        if not joined:
            return []
        return [self._take(len(joined))]

    def _span(self) -> float:
        return self._parts[-1].end_s - self._parts[0].start_s if self._parts else 0.0

    def _layout(self) -> tuple[str, list[tuple[int, int]]]:
        text, spans = "", []
        for part in self._parts:
            if text and part.text[0] not in _GLUES_LEFT:
                text += " "
            spans.append((len(text), len(text) + len(part.text)))
            text += part.text
        return text, spans

    def _take(self, cut: int) -> TimedText:
        """Removes the first ``cut`` characters of the buffer as one timed piece."""
        joined, spans = self._layout()
        start_s = self._parts[0].start_s
        end_s = start_s
        rest: list[TimedText] = []
        for part, (cs, ce) in zip(self._parts, spans, strict=True):
            if ce <= cut:
                end_s = part.end_s
            elif cs >= cut:
                rest.append(part)
            else:
                t = part.start_s + (part.end_s - part.start_s) * (cut - cs) / (ce - cs)
                end_s = t
                tail = part.text[cut - cs:].strip()
                if tail:
                    rest.append(TimedText(tail, t, part.end_s))
        self._parts = rest
        return TimedText(joined[:cut].strip(), start_s, end_s)
