"""The language pair captioner works in, and the other language of each."""

from __future__ import annotations

#: The recognised and translated languages, in the order the views and exports show them.
LANGUAGES: tuple[str, ...] = ("ru", "en")
#: The operator's language choice that lets identification decide.
AUTO = "auto"


def other(lang: str) -> str:
    """The other language of the pair: what ``lang`` is translated into."""
    return LANGUAGES[1] if lang == LANGUAGES[0] else LANGUAGES[0]
