"""Text normalisation and error rates for comparing transcripts with references."""

from __future__ import annotations

import re

import jiwer

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def normalise(text: str) -> str:
    """Lower case, ё as е, hyphens as spaces, no punctuation, single spaces."""
    text = text.lower().replace("ё", "е").replace("-", " ")
    return " ".join(_PUNCT.sub(" ", text).split())


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(normalise(reference), normalise(hypothesis) or "<empty>")


def cer(reference: str, hypothesis: str) -> float:
    return jiwer.cer(normalise(reference), normalise(hypothesis) or "<empty>")
