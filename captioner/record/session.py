"""A session folder: its metadata, its journal and its audio recording.

Layout of ``<root>/<YYYY-MM-DD_HHMMSS>[_<slug>]/``::

    session.json        metadata, rewritten atomically (tmp + fsync + rename)
    programme.json      the event programme the run had, if any (captioner.programme)
    journal.jsonl       the append-only record (captioner.record.journal)
    audio/              the recording (captioner.record.recorder):
      segments.jsonl
      <input>/<input>-0001.flac, -0002.flac, ...   60 s FLAC segments
    export/             what ``captioner export`` writes

Stream times (``start_s``) in the journal and the audio index are seconds since the
session started; a resumed session keeps counting from there (see
:meth:`SessionDir.mark_resumed`), so exports need no per-run bookkeeping.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any

from captioner import __version__
from captioner.errors import CaptionerError
from captioner.events import Status
from captioner.files import atomic_write_text, fsync_dir
from captioner.record.journal import JOURNAL_NAME, Journal
from captioner.record.recorder import AudioRecorder
from captioner.states import INPUT_LOST, INPUT_RESTORED

log = logging.getLogger(__name__)

SESSION_FILE = "session.json"
PROGRAMME_FILE = "programme.json"
SESSION_FORMAT = "captioner-session"
SESSION_VERSION = 1
AUDIO_DIR = "audio"
EXPORT_DIR = "export"

_TRANSLIT = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p",
     "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"],
    strict=True,
))


def slugify(title: str, max_len: int = 40) -> str:
    """A file-name-safe ASCII slug: ``"Климат и вода"`` -> ``"klimat-i-voda"``."""
    text = "".join(_TRANSLIT.get(ch, ch) for ch in title.lower())
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return text[:max_len].rstrip("-")


def write_json_atomic(path: Path, doc: dict[str, Any]) -> None:
    """Writes JSON through a temporary file, fsync and rename: never half-written.

    Raises:
        OSError: as :func:`captioner.files.atomic_write_text`.
    """
    atomic_write_text(path, json.dumps(doc, ensure_ascii=False, indent=2) + "\n")


def _aware(now: datetime | None) -> datetime:
    """``now`` with a UTC offset: an aware time keeps its own (the venue's), a naive
    one is taken as this machine's local time."""
    now = now or datetime.now()
    return now if now.tzinfo is not None else now.astimezone()


def _plain(value: Any) -> Any:
    """A config dataclass (or anything JSON can hold) as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def input_lost(input_id: str, at_s: float, emitted_ns: int, error: str = "") -> Status:
    """The status that marks the start of a gap in an input, for the journal.

    The detail keys match what ``captioner.inputs.capture`` emits (``error``), plus ``at_s``.
    """
    detail: dict[str, Any] = {"at_s": round(at_s, 3)}
    if error:
        detail["error"] = error
    return Status(INPUT_LOST, emitted_ns, input_id, detail)


def input_restored(input_id: str, at_s: float, emitted_ns: int,
                   gap_s: float | None = None) -> Status:
    """The status that marks the end of a gap in an input, for the journal.

    The detail keys match what ``captioner.inputs.capture`` emits (``gap_s``), plus ``at_s``.
    """
    detail: dict[str, Any] = {"at_s": round(at_s, 3)}
    if gap_s is not None:
        detail["gap_s"] = round(gap_s, 3)
    return Status(INPUT_RESTORED, emitted_ns, input_id, detail)


class SessionDir:
    """One session's folder. Build it with :meth:`create` or :meth:`open`.

    Attributes:
        path: The folder.
        meta: The contents of ``session.json`` (write changes with :meth:`save`).
    """

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self.meta = meta

    @classmethod
    def create(cls, root: str | Path, title: str | None = None, now: datetime | None = None,
               *, config: Any = None, models: dict[str, Any] | None = None,
               inputs: list[Any] | None = None,
               extra: dict[str, Any] | None = None,
               programme: list[dict[str, Any]] | None = None) -> SessionDir:
        """Makes a new session folder under ``root``, complete or not at all.

        The folder is assembled under a hidden temporary name and renamed into place,
        so a crash never leaves a half-made session behind; a failure removes the
        temporary folder before it reaches the caller.

        Args:
            root: Folder that holds sessions (created if missing).
            title: Human title; it also names the folder, as an ASCII slug.
            now: Start time (default: the current local time).
            config: Config snapshot (a config dataclass or a dict).
            models: Which models the session uses (names, paths, versions).
            inputs: The inputs (ids, devices, languages...).
            extra: More top-level keys for ``session.json``, written with the rest (the
                archive keeps where a folder starts on the bus in ``archive``); they
                cannot replace the keys above.
            programme: The event programme as data
                (:func:`captioner.programme.programme_to_data`), saved as
                ``programme.json``; None or empty: no file.

        Raises:
            CaptionerError: the folder cannot be created.
        """
        root = Path(root)
        start = _aware(now)
        name = start.strftime("%Y-%m-%d_%H%M%S")
        slug = slugify(title) if title else ""
        if slug:
            name = f"{name}_{slug}"
        meta: dict[str, Any] = {
            "format": SESSION_FORMAT,
            "version": SESSION_VERSION,
            "title": title or "",
            "started_at": start.isoformat(timespec="milliseconds"),
            "started_unix": round(start.timestamp(), 3),
            "stopped_at": None,
            "runs": [{"started_at": start.isoformat(timespec="milliseconds")}],
            "config": _plain(config) if config is not None else {},
            "models": dict(models or {}),
            "inputs": [_plain(i) for i in inputs or []],
            "captioner": __version__,
        }
        meta = {**(extra or {}), **meta}
        target = root / name
        made: Path | None = None  # the staging folder, from its mkdir to its rename
        try:
            root.mkdir(parents=True, exist_ok=True)
            n = 2
            while target.exists():  # two sessions started in the same second
                target = root / f"{name}-{n}"
                n += 1
            meta["name"] = target.name
            staging = root / f".{target.name}.creating-{os.getpid()}"
            staging.mkdir()
            made = staging
            (staging / AUDIO_DIR).mkdir()
            (staging / JOURNAL_NAME).touch()
            write_json_atomic(staging / SESSION_FILE, meta)
            if programme:
                write_json_atomic(staging / PROGRAMME_FILE, {"items": programme})
            staging.rename(target)
            made = None  # complete and in place: kept even if syncing root fails below
            fsync_dir(root)
        except BaseException as exc:
            if made is not None:  # a half-made folder must not outlive the failure
                shutil.rmtree(made, ignore_errors=True)
            if isinstance(exc, OSError):
                raise CaptionerError(f"{target}: cannot create a session folder "
                                     f"({exc.strerror or exc})") from None
            raise
        log.info("session folder %s", target)
        return cls(target, meta)

    @classmethod
    def open(cls, path: str | Path) -> SessionDir:
        """Opens an existing session folder (to resume or export it).

        Raises:
            CaptionerError: ``path`` is not a session folder or its metadata is damaged.
        """
        path = Path(path)
        hint = "pass a folder made by `captioner run`, e.g. sessions/2025-05-01_100000"
        if not path.is_dir():
            raise CaptionerError(f"{path}: no such session folder", hint=hint)
        meta_path = path / SESSION_FILE
        if not meta_path.is_file():
            raise CaptionerError(f"{path}: not a captioner session folder (no {SESSION_FILE})",
                                 hint=hint)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CaptionerError(f"{meta_path}: unreadable session metadata ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != SESSION_FORMAT:
            raise CaptionerError(f"{meta_path}: not captioner session metadata", hint=hint)
        if not isinstance(meta.get("version"), int) or meta["version"] > SESSION_VERSION:
            raise CaptionerError(f"{meta_path}: session format version {meta.get('version')!r}"
                                 f" is newer than this captioner understands",
                                 hint="update captioner")
        return cls(path, meta)

    # -- paths and facts --------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def title(self) -> str:
        return str(self.meta.get("title") or "")

    @property
    def journal_path(self) -> Path:
        return self.path / JOURNAL_NAME

    @property
    def audio_dir(self) -> Path:
        return self.path / AUDIO_DIR

    @property
    def export_dir(self) -> Path:
        return self.path / EXPORT_DIR

    def programme(self) -> list[dict[str, Any]] | None:
        """The saved programme as data (``items``), or None when there is none or it
        cannot be read (a damaged file is logged, and the documents go without it)."""
        path = self.path / PROGRAMME_FILE
        if not path.is_file():
            return None
        try:
            items = json.loads(path.read_text(encoding="utf-8"))["items"]
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s: unreadable programme, left out (%s)", path, exc)
            return None
        return items if isinstance(items, list) else None

    def save_programme(self, programme: list[dict[str, Any]]) -> None:
        """Writes ``programme.json`` atomically (a resumed run's programme wins).

        Raises:
            OSError: as :func:`write_json_atomic`.
        """
        write_json_atomic(self.path / PROGRAMME_FILE, {"items": programme})

    @property
    def started_at(self) -> datetime:
        """Session start with the venue's UTC offset (stream time 0)."""
        return datetime.fromisoformat(self.meta["started_at"])

    @property
    def stopped_at(self) -> datetime | None:
        value = self.meta.get("stopped_at")
        return datetime.fromisoformat(value) if value else None

    # -- changes ----------------------------------------------------------------------

    def save(self) -> None:
        """Rewrites ``session.json`` atomically from :attr:`meta`.

        Raises:
            CaptionerError: the file cannot be written (e.g. disk full).
        """
        try:
            write_json_atomic(self.path / SESSION_FILE, self.meta)
        except OSError as exc:
            raise CaptionerError(f"{self.path / SESSION_FILE}: cannot write "
                                 f"({exc.strerror or exc})") from None

    def open_journal(self, **kwargs: Any) -> Journal:
        """The journal, ready to append (after repairing a torn tail if resuming)."""
        return Journal.open_existing(self.journal_path, **kwargs)

    def recorder(self, **kwargs: Any) -> AudioRecorder:
        """An :class:`AudioRecorder` into this session's ``audio/`` folder."""
        return AudioRecorder(self.audio_dir, **kwargs)

    def mark_resumed(self, now: datetime | None = None) -> float:
        """Records a restart of the session and clears its stop time.

        Returns:
            The stream-time offset (seconds since the session started) that the
            restarted inputs add to their own stream times, so that times stay
            session-relative across runs.
        """
        when = _aware(now)
        self.meta.setdefault("runs", []).append(
            {"started_at": when.isoformat(timespec="milliseconds")})
        self.meta["stopped_at"] = None
        self.save()
        return max(0.0, (when - self.started_at).total_seconds())

    def close(self, now: datetime | None = None) -> None:
        """Records the stop time in ``session.json``."""
        self.meta["stopped_at"] = _aware(now).isoformat(timespec="milliseconds")
        self.save()
