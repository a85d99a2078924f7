"""Machine translation of captions: the translator protocol, and what serves a direction.

:func:`choose_engine` is pure and knows nothing of models: given the discovered Argos
packages (:mod:`captioner.routing.argos`) it picks a package, Whisper's own translate
task, or nothing, and says why. Sentences are split by :mod:`captioner.routing.sentences`;
glossary terms are protected through translation by :mod:`captioner.routing.glossary`;
the translation stage itself is :mod:`captioner.routing.mt`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from captioner.routing.argos import ArgosPackage

WHISPER_TRANSLATE = "whisper-translate"


@runtime_checkable
class Translator(Protocol):
    """Anything that translates a batch of texts from one language to another."""

    from_code: str
    to_code: str
    name: str

    def translate(self, texts: Sequence[str]) -> list[str]:
        """Translates each text; returns as many strings, in order ('' where none)."""
        ...


@dataclass(frozen=True)
class EngineChoice:
    """What serves one translation direction, or why nothing does.

    Attributes:
        source: Source language code.
        target: Target language code.
        engine: ``argos``, ``whisper-translate`` (Whisper's own task, English only),
            or None when nothing can.
        package: The package, for ``argos``.
        reason: One line for the status event and the log.
    """

    source: str
    target: str
    engine: str | None
    package: ArgosPackage | None = None
    reason: str = field(default="")

    @property
    def available(self) -> bool:
        return self.engine is not None


def parse_direction(direction: str | tuple[str, str]) -> tuple[str, str]:
    """``"ru->en"``, ``"ru-en"``, ``"ru_en"`` or ``("ru", "en")`` -> ``("ru", "en")``."""
    if isinstance(direction, tuple):
        src, dst = direction
    else:
        parts = re.split(r"\s*(?:->|→|-|_)\s*", direction.strip())
        if len(parts) != 2:
            raise ValueError(f"not a translation direction: {direction!r} (want e.g. ru->en)")
        src, dst = parts
    return src.strip().lower(), dst.strip().lower()


def choose_engine(direction: str | tuple[str, str], packages: Sequence[ArgosPackage],
                  whisper_fallback_available: bool) -> EngineChoice:
    """Picks what translates ``direction``: an Argos package, else Whisper, else nothing.

    Whisper's ``task=translate`` only produces English, so it can serve ``xx->en``
    alone, and only when no package does.

    Args:
        direction: E.g. ``"ru->en"``.
        packages: Discovered packages, in precedence order.
        whisper_fallback_available: Whether the ASR stage can run a translate pass.
    """
    src, dst = parse_direction(direction)
    install = f"captioner models install argos:{src}-{dst} --from FILE"
    if src == dst:
        return EngineChoice(src, dst, None, reason=f"{src}->{dst}: nothing to translate")
    for pkg in packages:
        if (pkg.from_code, pkg.to_code) == (src, dst):
            where = "model store" if pkg.origin == "store" else "Argos Translate packages"
            return EngineChoice(src, dst, "argos", pkg,
                                f"{src}->{dst}: Argos package {pkg.name!r} ({where}: {pkg.path})")
    if dst == "en" and whisper_fallback_available:
        return EngineChoice(src, dst, WHISPER_TRANSLATE,
                            reason=f"no {src}->{dst} translation package installed; using "
                            f"Whisper's translate task (install a package with: {install})")
    return EngineChoice(src, dst, None,
                        reason=f"no {src}->{dst} translation package installed; "
                        f"install with: {install}")
