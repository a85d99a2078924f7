"""The event glossary: names, acronyms and terms with their Russian and English forms.

Used three ways: as hotwords that bias recognition towards the terms, to fix known
misrecognitions in committed text (:meth:`Glossary.fix`), and to carry terms exactly
through machine translation (:func:`protect` before it, :func:`restore` after it). The
fixes and the protection find terms with one matcher: whole words, case-insensitive,
``ё`` as ``е``, any run of spaces as one, longer terms before the terms they contain.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from captioner.config import GlossaryTerm

log = logging.getLogger(__name__)


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


# ---------------------------------------------------------------------------------------
# Matching terms


def _key(text: str) -> str:
    """What a term and a match of it are compared by: case, ``ё``/``е`` and spacing aside."""
    return " ".join(text.split()).casefold().replace("ё", "е")


def _pattern(form: str) -> str:
    """A regex for ``form`` (used with IGNORECASE): any spacing, ``е`` and ``ё`` alike."""
    words = ("".join("[её]" if ch in "еёЕЁ" else re.escape(ch) for ch in word)
             for word in form.split())
    return r"\s+".join(words)


def _matcher(keys: Iterable[str]) -> re.Pattern[str]:
    """One regex that finds any of ``keys`` (see :func:`_key`) as whole words.

    Longer keys are tried first, so a term wins over the shorter terms it contains; the
    :func:`_key` of a match is the key it matched.
    """
    alternatives = sorted(keys, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(_pattern(k) for k in alternatives)
                      + r")(?!\w)", re.IGNORECASE)


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
    return _matcher(targets), targets


# ---------------------------------------------------------------------------------------
# Protection through machine translation

_PLACEHOLDER = "XQ{}Z"
# Tolerates what MT does to a code-like token: spaces inside, case, a Cyrillic Х for X.
_PLACEHOLDER_RE = re.compile(r"(\s*)[XxХх]\s*[Qq]\s*(\d+)\s*[Zz](\s*)")
_NO_SPACE_AFTER = "([«\"“„"
_NO_SPACE_BEFORE = ",.!?;:…)]»\"”"


def protect(text: str, terms: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """Replaces glossary terms with placeholders that machine translation leaves alone.

    Matching is case-insensitive, treats ``ё`` as ``е`` and any run of spaces as one,
    and only takes whole words; longer terms win over terms they contain. Each distinct
    term gets one placeholder (``XQ1Z``, ``XQ2Z``...): ASCII capitals and digits, which
    every SentencePiece model of Argos covers and translation models copy through.

    Args:
        text: Source-language text.
        terms: Source-language term -> target-language form.

    Returns:
        The text with placeholders, and placeholder -> target form for :func:`restore`.
    """
    by_key: dict[str, str] = {}
    for src, dst in terms.items():
        key = _key(src)
        if key:
            by_key.setdefault(key, dst)
    if not text or not by_key:
        return text, {}
    pattern = _matcher(by_key)
    placeholders: dict[str, str] = {}
    numbers: dict[str, str] = {}

    def sub(m: re.Match) -> str:
        key = _key(m.group(0))
        if key not in numbers:
            numbers[key] = _PLACEHOLDER.format(len(numbers) + 1)
            placeholders[numbers[key]] = by_key[key]
        return numbers[key]

    return pattern.sub(sub, text), placeholders


def restore(text: str, placeholders: Mapping[str, str]) -> str:
    """Puts the target-language terms back in place of the placeholders.

    Spacing the translation changed around a placeholder is tidied: a space is put
    between it and a word it got glued to, and removed before punctuation. A
    placeholder the translation lost is not re-added (logged at debug); one it made
    up is dropped.
    """
    if not placeholders:
        return text
    seen: set[str] = set()

    def sub(m: re.Match) -> str:
        key = _PLACEHOLDER.format(int(m.group(2)))
        target = placeholders.get(key)
        before = text[m.start() - 1] if m.start() > 0 else ""
        after = text[m.end()] if m.end() < len(text) else ""
        if target is None:
            log.debug("dropping a placeholder the translation made up: %r", m.group(0))
            keep_gap = before and after and before not in _NO_SPACE_AFTER \
                and after not in _NO_SPACE_BEFORE
            return " " if keep_gap else ""
        seen.add(key)
        lead = " " if before and (m.group(1) or before.isalnum()) else ""
        if before in _NO_SPACE_AFTER:
            lead = ""
        trail = " " if after and (m.group(3) or after.isalnum()) else ""
        if after and after in _NO_SPACE_BEFORE:
            trail = ""
        return f"{lead}{target}{trail}"

    out = _PLACEHOLDER_RE.sub(sub, text).strip()
    for lost in set(placeholders) - seen:
        log.debug("the translation lost placeholder %s (%r)", lost, placeholders[lost])
    return out
