"""Argos Translate packages: finding them on disk, and running one as a translator.

Argos Translate packages are run directly with CTranslate2 and SentencePiece, without
the ``argostranslate`` library (which pulls in torch, stanza and spacy). A package is a
folder with ``metadata.json`` (``from_code``/``to_code``), ``model/`` (a CTranslate2
translation model) and ``sentencepiece.model``; its ``stanza/`` folder is ignored and
sentences are split with :mod:`captioner.routing.sentences` instead.

:func:`discover_packages` only reads metadata; :class:`ArgosTranslator` loads one
package and decodes on the calling thread.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from captioner.errors import ModelError
from captioner.routing.sentences import split_clauses, split_sentences

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------
# Packages


@dataclass(frozen=True)
class ArgosPackage:
    """An unpacked Argos Translate package on disk.

    Attributes:
        path: The package folder (holds metadata.json, model/, sentencepiece.model).
        from_code: Source language code.
        to_code: Target language code.
        name: Human-readable name from the metadata (or the folder name).
        version: ``package_version`` from the metadata ('' when absent).
        origin: ``store`` (captioner's model store) or ``argos`` (an Argos packages dir).
        target_prefix: Token some multilingual packages expect first in the output.
        problem: Why the package cannot be used, when discovery already knows.
    """

    path: Path
    from_code: str
    to_code: str
    name: str
    version: str = ""
    origin: str = "store"
    target_prefix: str = ""
    problem: str = ""

    @property
    def direction(self) -> str:
        return f"{self.from_code}->{self.to_code}"

    def reinstall_hint(self) -> str:
        """What to tell the user when this package is broken."""
        install = f"captioner models install argos:{self.from_code}-{self.to_code}"
        if self.origin == "store":
            return f"run: {install} --force (or {install} --force --from FILE)"
        return f"reinstall it with argospm, or run: {install} --from FILE"


def read_package(path: Path, origin: str = "store") -> ArgosPackage:
    """Reads a package folder's metadata.json.

    Raises:
        ModelError: no readable metadata.json, or it names no language pair.
    """
    path = Path(path)
    try:
        meta = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: not an Argos package (metadata.json: {exc})") from None
    src, dst = meta.get("from_code"), meta.get("to_code")
    if not isinstance(src, str) or not isinstance(dst, str) or not src or not dst:
        raise ModelError(f"{path}: metadata.json names no from_code/to_code")
    return ArgosPackage(
        path=path,
        from_code=src,
        to_code=dst,
        name=str(meta.get("name") or path.name),
        version=str(meta.get("package_version") or ""),
        origin=origin,
        target_prefix=str(meta.get("target_prefix") or ""),
    )


def argos_package_dirs() -> list[Path]:
    """Where Argos Translate (argospm) keeps its packages, as it decides itself.

    ``$ARGOS_PACKAGES_DIR``, else the legacy ``$ARGOS_TRANSLATE_PACKAGES_DIR``, else
    ``$XDG_DATA_HOME/argos-translate/packages`` (``~/.local/share/...`` by default).
    """
    for var in ("ARGOS_PACKAGES_DIR", "ARGOS_TRANSLATE_PACKAGES_DIR"):
        if os.environ.get(var):
            return [Path(os.environ[var]).expanduser()]
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return [Path(data).expanduser() / "argos-translate" / "packages"]


_STORE_FOLDER = re.compile(r"argos-[A-Za-z_]+-[A-Za-z_]+")


def discover_packages(store_root: Path, extra_dirs: Sequence[Path] = (), *,
                      argos_dirs: Sequence[Path] | None = None) -> list[ArgosPackage]:
    """Translation packages in the model store and in Argos Translate's own folders.

    Only metadata is read: a damaged package is still listed, so that loading it gives
    an error that names it. Where two packages serve the same direction the first one
    wins: the store, then ``extra_dirs``, then the Argos folders.

    Args:
        store_root: The model store (folders ``argos-<from>-<to>/``).
        extra_dirs: More folders whose subfolders are unpacked packages.
        argos_dirs: Argos Translate's package folders; None asks
            :func:`argos_package_dirs`.

    Returns:
        One package per direction, in precedence order.
    """
    found: list[ArgosPackage] = []
    store_root = Path(store_root)
    if store_root.is_dir():
        for child in sorted(store_root.iterdir()):
            if _STORE_FOLDER.fullmatch(child.name) and (child / "metadata.json").is_file():
                read = _try_read(child, "store")
                # A store folder names its direction: a package whose metadata is broken
                # is still listed, so loading it fails with an error that names it.
                found.extend(read or [_from_folder_name(child)])
    others = [*extra_dirs, *(argos_package_dirs() if argos_dirs is None else argos_dirs)]
    for folder in others:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            if child.is_dir() and (child / "metadata.json").is_file():
                found.extend(_try_read(child, "argos"))
    chosen: dict[tuple[str, str], ArgosPackage] = {}
    for pkg in found:
        key = (pkg.from_code, pkg.to_code)
        if key in chosen:
            log.debug("%s is shadowed by %s", pkg.path, chosen[key].path)
        else:
            chosen[key] = pkg
    return list(chosen.values())


def _from_folder_name(folder: Path) -> ArgosPackage:
    _, src, dst = folder.name.split("-", 2)
    return ArgosPackage(path=folder, from_code=src, to_code=dst, name=folder.name,
                        version="", origin="store", target_prefix="",
                        problem="metadata.json is unreadable (damaged package)")


def _try_read(folder: Path, origin: str) -> list[ArgosPackage]:
    try:
        meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
        if meta.get("type", "translate") != "translate":
            return []  # sentence-boundary and other helper packages
        return [read_package(folder, origin)]
    except (OSError, json.JSONDecodeError, AttributeError, ModelError) as exc:
        log.warning("ignoring %s: %s", folder, exc)
        return []


# ---------------------------------------------------------------------------------------
# The model

_WARM_UP = {"en": "Good morning, everyone.", "ru": "Доброе утро, коллеги."}


class ArgosTranslator:
    """One loaded Argos package, run with CTranslate2 and SentencePiece.

    Not for use from an event loop: every call decodes on the calling thread.

    Args:
        package: The package (or its folder).
        device: ``cpu``, ``cuda`` or ``auto``.
        compute_type: ``auto`` means int8 on the CPU and CTranslate2's choice on CUDA.
        intra_threads: Threads for one translation: the pipeline's share of the cores
            (0 lets CTranslate2 choose, which oversubscribes a busy small machine).
        beam_size: Beam width; 2 is within a hair of 4 in quality and faster.
        max_batch_size: Most sentences decoded together.
        max_sentence_tokens: Longer sentences are cut at commas, then between words.
        max_decoding_length: Hard cap on output tokens per sentence, so one pass is
            bounded in time; each call also caps it at twice its longest input + 10.

    Raises:
        ModelError: a file is missing or does not load; the message names the package.
    """

    def __init__(self, package: ArgosPackage | Path, *, device: str = "cpu",
                 compute_type: str = "auto", intra_threads: int = 1, beam_size: int = 2,
                 max_batch_size: int = 16, max_sentence_tokens: int = 96,
                 max_decoding_length: int = 256) -> None:
        self.package = package if isinstance(package, ArgosPackage) else read_package(package)
        self.from_code = self.package.from_code
        self.to_code = self.package.to_code
        self.name = f"argos {self.package.direction} ({self.package.name})"
        self.beam_size = beam_size
        self.max_batch_size = max_batch_size
        self.max_sentence_tokens = max_sentence_tokens
        self.max_decoding_length = max_decoding_length
        if self.package.problem:
            raise self._fail(self.package.problem)
        self._sp = self._load_sentencepiece()
        self._translator = self._load_model(device, compute_type, intra_threads)

    def _fail(self, what: str) -> ModelError:
        return ModelError(f"translation package {self.package.path}: {what}",
                          hint=self.package.reinstall_hint())

    def _load_sentencepiece(self):
        path = self.package.path / "sentencepiece.model"
        if not path.is_file():
            raise self._fail("sentencepiece.model is missing")
        try:
            import sentencepiece
        except ImportError:
            raise ModelError("the sentencepiece module is not installed",
                             hint="pip install sentencepiece") from None
        try:
            return sentencepiece.SentencePieceProcessor(model_file=str(path))
        except (RuntimeError, OSError) as exc:
            raise self._fail(f"sentencepiece.model does not load ({_first_line(exc)})") from None

    def _load_model(self, device: str, compute_type: str, intra_threads: int):
        import ctranslate2

        model_dir = self.package.path / "model"
        if not (model_dir / "model.bin").is_file():
            raise self._fail("model/model.bin is missing")
        if device == "auto":
            device = "cuda" if _cuda_available() else "cpu"
        if compute_type == "auto":
            compute_type = "int8" if device == "cpu" else "auto"
        try:
            translator = ctranslate2.Translator(str(model_dir), device=device,
                                                compute_type=compute_type, inter_threads=1,
                                                intra_threads=intra_threads)
        except (RuntimeError, ValueError, OSError) as exc:
            raise self._fail(f"the CTranslate2 model does not load ({_first_line(exc)})") from None
        log.info("loaded %s on %s (%s)", self.name, device, compute_type)
        return translator

    def warm_up(self) -> float:
        """Translates one short sentence so the first real caption is not slow.

        Returns:
            The seconds it took.
        """
        start = time.perf_counter()
        self.translate([_WARM_UP.get(self.from_code, "Hello.")])
        return time.perf_counter() - start

    def segments(self, text: str) -> list[list[str]]:
        """The token pieces of each sentence of ``text``, long ones cut to size."""
        out: list[list[str]] = []
        for sentence in split_sentences(text):
            pieces = self._sp.encode(sentence, out_type=str)
            if len(pieces) <= self.max_sentence_tokens:
                out.append(pieces)
                continue
            out.extend(self._cut(split_clauses(sentence), by_words=False))
        return [p for p in out if p]

    def _cut(self, chunks: list[str], by_words: bool) -> list[list[str]]:
        """Packs chunks greedily into pieces of at most ``max_sentence_tokens`` tokens."""
        out: list[list[str]] = []
        current = ""
        for chunk in chunks:
            candidate = f"{current} {chunk}".strip()
            if len(self._sp.encode(candidate, out_type=str)) <= self.max_sentence_tokens:
                current = candidate
                continue
            if current:
                out.append(self._sp.encode(current, out_type=str))
            if len(self._sp.encode(chunk, out_type=str)) <= self.max_sentence_tokens:
                current = chunk
            elif not by_words:
                out.extend(self._cut(chunk.split(), by_words=True))
                current = ""
            else:  # one "word" longer than the limit: cut its tokens
                pieces = self._sp.encode(chunk, out_type=str)
                step = self.max_sentence_tokens
                out.extend(pieces[i:i + step] for i in range(0, len(pieces), step))
                current = ""
        if current:
            out.append(self._sp.encode(current, out_type=str))
        return out

    def translate(self, texts: Sequence[str]) -> list[str]:
        """Translates each text: sentences of all texts decoded as one batch.

        Returns:
            One translation per text, in order; '' for empty input or empty output.
        """
        owners: list[int] = []
        batch: list[list[str]] = []
        for i, text in enumerate(texts):
            for pieces in self.segments(text):
                owners.append(i)
                batch.append(pieces)
        results: list[list[str]] = [[] for _ in texts]
        if not batch:
            return ["" for _ in texts]
        longest = max(len(p) for p in batch)
        prefix = self.package.target_prefix
        options = dict(
            beam_size=self.beam_size,
            max_batch_size=self.max_batch_size,
            max_decoding_length=min(self.max_decoding_length, 2 * longest + 10),
            replace_unknowns=True,
            length_penalty=0.2,
        )
        if prefix:
            options["target_prefix"] = [[prefix] for _ in batch]
        translated = self._translator.translate_batch(batch, **options)
        for owner, source, result in zip(owners, batch, translated, strict=True):
            tokens = list(result.hypotheses[0]) if result.hypotheses else []
            if prefix and tokens and tokens[0] == prefix:
                tokens = tokens[1:]
            text = self._sp.decode(tokens).strip() if tokens else ""
            if text:
                results[owner].append(text)
            else:
                log.debug("%s: empty translation of a %d-token sentence", self.name,
                          len(source))
        return [" ".join(parts) for parts in results]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:197] + "..."


def _cuda_available() -> bool:
    from captioner.recognition.asr import cuda_available

    return cuda_available()
