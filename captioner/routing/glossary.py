"""The event glossary: names, acronyms and terms with their Russian and English forms.

Used three ways: as hotwords that bias recognition towards the terms, to fix known
misrecognitions in committed text, and to carry terms exactly through machine
translation (see :func:`captioner.routing.translate.protect`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from captioner.config import GlossaryTerm


@dataclass(frozen=True)
class Glossary:
    """An immutable glossary built once from the config."""

    terms: tuple[GlossaryTerm, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", tuple(self.terms))  # hashable, for _fixer's cache

    def hotwords(self, lang: str, limit_chars: int = 220) -> str:
        """Terms in ``lang`` as a space-separated hotword string for Whisper.

        Whisper's prompt holds about 224 tokens and shares it with the previous text,
        so the list is capped.
        """
        out: list[str] = []
        size = 0
        for term in self.terms:
            form = getattr(term, lang, "") or term.en or term.ru
            if form and size + len(form) + 1 <= limit_chars:
                out.append(form)
                size += len(form) + 1
        return " ".join(out)

    def fix(self, text: str, lang: str) -> str:
        """Replaces known misrecognitions (and the other language's form) with the
        term's form in ``lang``; whole words, case-insensitive, ``ё`` as ``е``.

        All terms are replaced in one pass, so a term's form is never rewritten again
        by another term.
        """
        if not text or not self.terms:
            return text
        fixer = _fixer(self.terms, lang)
        if fixer is None:
            return text
        pattern, targets = fixer
        return pattern.sub(lambda m: targets[_key(m.group(0))], text)

    def mapping(self, src: str, dst: str) -> dict[str, str]:
        """Source-language form -> target-language form, for protection through MT.

        A term with only one form (a name spelled the same in both languages) maps to
        itself, so it is carried through unchanged.
        """
        out: dict[str, str] = {}
        for term in self.terms:
            a, b = getattr(term, src, ""), getattr(term, dst, "")
            if not (term.en and term.ru):
                a = b = term.en or term.ru
            if a and b:
                out.setdefault(a, b)
        return out


def _key(text: str) -> str:
    return " ".join(text.split()).casefold().replace("ё", "е")


def _pattern(form: str) -> str:
    """A regex for ``form`` (used with IGNORECASE): any spacing, ``е`` and ``ё`` alike."""
    words = ("".join("[её]" if ch in "еёЕЁ" else re.escape(ch) for ch in word)
             for word in form.split())
    return r"\s+".join(words)


@functools.lru_cache(maxsize=16)
def _fixer(terms: tuple[GlossaryTerm, ...], lang: str
           ) -> tuple[re.Pattern[str], dict[str, str]] | None:
    """One regex for every variant of every term, and variant key -> form in ``lang``."""
    targets: dict[str, str] = {}
    for term in terms:
        target = getattr(term, lang, "") or term.en or term.ru
        others = [f for f in (term.en, term.ru) if f and f != target]
        for variant in (*term.misheard, *others):
            key = _key(variant)
            if key:
                targets.setdefault(key, target)  # the first term listing a variant wins
    if not targets:
        return None
    alternatives = sorted(targets, key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(_pattern(v) for v in alternatives)
                         + r")(?!\w)", re.IGNORECASE)
    return pattern, targets
