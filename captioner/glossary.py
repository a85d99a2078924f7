"""The event glossary: names, acronyms and terms with their Russian and English forms.

Used three ways: as hotwords that bias recognition towards the terms, to fix known
misrecognitions in committed text, and to carry terms exactly through machine
translation (see :func:`captioner.translate.protect`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from captioner.config import GlossaryTerm


@dataclass(frozen=True)
class Glossary:
    """An immutable glossary built once from the config."""

    terms: tuple[GlossaryTerm, ...] = ()

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
        term's form in ``lang``; whole words, case-insensitive."""
        for term in self.terms:
            target = getattr(term, lang, "") or term.en or term.ru
            variants = [v for v in term.misheard if v]
            if not variants:
                continue
            text = _replace_words(text, variants, target)
        return text

    def mapping(self, src: str, dst: str) -> dict[str, str]:
        """Source-language form -> target-language form, for protection through MT."""
        out: dict[str, str] = {}
        for term in self.terms:
            a, b = getattr(term, src, ""), getattr(term, dst, "")
            if a and b:
                out[a] = b
        return out


def _replace_words(text: str, variants: Iterable[str], target: str) -> str:
    alternatives = sorted({re.escape(v) for v in variants}, key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)
    return pattern.sub(target, text)
