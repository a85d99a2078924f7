"""The local model store: installed models, their manifests, verification, resolution.

Layout: ``<root>/<name>/`` holds a model's files and ``manifest.json`` (name, kind,
source, sha256 and size of every file, whether the checksums were pinned by the
catalog). A model folder only appears through an atomic rename of a complete staging
folder, so an interrupted install never leaves a half model that loads.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from captioner.config import PROJECT_ROOT
from captioner.errors import ModelError
from captioner.files import fsync_dir
from captioner.store.catalog import CATALOG, known_names, store_dirname

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
_STAGING_PREFIX = ".staging-"
_CHUNK = 1 << 20


def default_root(configured: str = "") -> Path:
    """The store folder: the configured one, else ``$CAPTIONER_MODELS``, else ``models/``."""
    if configured:
        return Path(configured).expanduser()
    env = os.environ.get("CAPTIONER_MODELS")
    if env:
        return Path(env).expanduser()
    return PROJECT_ROOT / "models"


def sha256_file(path: Path, progress=None) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks; ``progress(n)`` is told each block."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
            if progress is not None:
                progress(len(block))
    return digest.hexdigest()


@dataclass(frozen=True)
class InstalledModel:
    """A model folder in the store, as its manifest describes it."""

    name: str
    kind: str
    path: Path
    source: str
    pinned: bool
    files: dict[str, dict]
    installed_at: str

    @property
    def size_bytes(self) -> int:
        return sum(int(f["size"]) for f in self.files.values())


@dataclass(frozen=True)
class Problem:
    """One file of a model that failed verification."""

    file: str
    reason: str


class ModelStore:
    """Installed models under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, name: str) -> Path:
        return self.root / store_dirname(name)

    def get(self, name: str) -> InstalledModel | None:
        """The installed model called ``name``, or None if it is not installed."""
        return self._read_manifest(self.path_for(name))

    def installed(self) -> list[InstalledModel]:
        """Every installed model, in name order."""
        if not self.root.is_dir():
            return []
        found = []
        for child in sorted(self.root.iterdir()):
            if child.is_dir() and not child.name.startswith("."):
                model = self._read_manifest(child)
                if model is not None:
                    found.append(model)
        return found

    def _read_manifest(self, folder: Path) -> InstalledModel | None:
        try:
            data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("ignoring %s: unreadable manifest (%s)", folder, exc)
            return None
        return InstalledModel(
            name=data["name"],
            kind=data["kind"],
            path=folder,
            source=data.get("source", "?"),
            pinned=bool(data.get("pinned", False)),
            files=data.get("files", {}),
            installed_at=data.get("installed_at", "?"),
        )

    def quick_check(self, model: InstalledModel) -> list[Problem]:
        """Cheap check: every file present with its recorded size."""
        problems = []
        for rel, meta in model.files.items():
            path = model.path / rel
            if not path.is_file():
                problems.append(Problem(rel, "missing"))
            elif path.stat().st_size != int(meta["size"]):
                problems.append(
                    Problem(rel, f"size {path.stat().st_size} != {meta['size']} (truncated?)")
                )
        return problems

    def verify(self, model: InstalledModel, progress=None) -> list[Problem]:
        """Full check: sizes, then the sha256 of every file against the manifest."""
        problems = self.quick_check(model)
        bad = {p.file for p in problems}
        for rel, meta in model.files.items():
            if rel in bad:
                continue
            if sha256_file(model.path / rel, progress) != meta["sha256"]:
                problems.append(Problem(rel, "sha256 mismatch (corrupted)"))
        return problems

    @contextlib.contextmanager
    def staging(self, name: str) -> Iterator[Path]:
        """A fresh staging folder next to the final one; removed on any failure."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.clean_stale_staging()
        path = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{store_dirname(name)}-",
                                     dir=self.root))
        (path / ".pid").write_text(str(os.getpid()))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def clean_stale_staging(self) -> None:
        """Removes staging folders left by installs that were killed."""
        for child in self.root.glob(f"{_STAGING_PREFIX}*"):
            pid_alive = False
            with contextlib.suppress(OSError, ValueError):
                pid_alive = (child / ".pid").exists() and _alive(
                    int((child / ".pid").read_text())
                )
            if not pid_alive:
                shutil.rmtree(child, ignore_errors=True)

    def commit(self, name: str, kind: str, staging: Path, source: str,
               pinned: dict[str, str] | None, progress=None) -> InstalledModel:
        """Checks a staged model, writes its manifest and renames it into place.

        Args:
            name: Catalog name.
            kind: ``whisper`` or ``argos``.
            staging: Folder holding exactly the model's files.
            source: Human-readable origin, recorded in the manifest.
            pinned: Expected sha256 per file; every listed file must be present and match.
                None records the checksums found (trust on first use).
            progress: Called with byte counts while hashing.

        Raises:
            ModelError: a pinned file is missing or its checksum differs. The staged
                files are deleted by the ``staging`` context.
        """
        files: dict[str, dict] = {}
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            rel = path.relative_to(staging).as_posix()
            if rel == ".pid":
                continue
            files[rel] = {"sha256": sha256_file(path, progress), "size": path.stat().st_size}
        if pinned:
            for rel, expected in pinned.items():
                if rel not in files:
                    raise ModelError(f"{name}: the download lacks {rel}; nothing was installed")
                if files[rel]["sha256"] != expected:
                    raise ModelError(
                        f"{name}: checksum mismatch for {rel} (got {files[rel]['sha256'][:12]}…,"
                        f" expected {expected[:12]}…); refused and deleted the partial files",
                        hint="the source may be corrupt or tampered with; try again or use --from",
                    )
        manifest = {
            "name": name,
            "kind": kind,
            "source": source,
            "pinned": bool(pinned),
            "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "files": files,
        }
        _write_synced(staging / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
        (staging / ".pid").unlink(missing_ok=True)
        final = self.path_for(name)
        if final.exists():
            # Replace an old or broken copy: move it aside first so the swap is quick.
            trash = final.with_name(f"{_STAGING_PREFIX}old-{final.name}-{os.getpid()}")
            final.rename(trash)
            staging.rename(final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            staging.rename(final)
        fsync_dir(self.root)
        model = self._read_manifest(final)
        assert model is not None
        return model

    def remove(self, name: str) -> bool:
        """Deletes an installed model; returns False if it was not installed."""
        path = self.path_for(name)
        if not (path / MANIFEST).exists():
            return False
        trash = path.with_name(f"{_STAGING_PREFIX}rm-{path.name}-{os.getpid()}")
        path.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        return True

    def resolve_whisper(self, name_or_path: str) -> Path:
        """The folder to load a Whisper model from: a store name or a folder path.

        Raises:
            ModelError: unknown name, not installed, or a folder that is no model.
        """
        as_path = Path(name_or_path).expanduser()
        if as_path.is_dir():
            if not (as_path / "model.bin").is_file():
                raise ModelError(f"{as_path}: not a CTranslate2 Whisper model (no model.bin)")
            return as_path
        spec = CATALOG.get(name_or_path)
        if spec is None or spec.kind != "whisper":
            whisper = [n for n in known_names() if CATALOG[n].kind == "whisper"]
            raise ModelError(
                f"unknown model {name_or_path!r}",
                hint=f"known Whisper models: {', '.join(whisper)}; or give a model folder path",
            )
        model = self.get(name_or_path)
        if model is None:
            raise ModelError(
                f"model {name_or_path!r} is not installed (store: {self.root})",
                hint=f"run: captioner models install {name_or_path}",
            )
        problems = self.quick_check(model)
        if problems:
            detail = "; ".join(f"{p.file}: {p.reason}" for p in problems)
            raise ModelError(
                f"model {name_or_path!r} is damaged: {detail}",
                hint=f"run: captioner models install {name_or_path} --force",
            )
        return model.path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_synced(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
