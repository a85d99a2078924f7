"""Session exports: the journal into SRT, WebVTT, text, Markdown, DOCX and JSON.

The conversions are pure (captions in, text or bytes out) and live apart: which
captions a document holds in :mod:`captioner.record.transcript`, plain text, Markdown
and JSON in :mod:`captioner.record.textexport`, DOCX in
:mod:`captioner.record.docxexport`, subtitle cues in :mod:`captioner.record.export`.
Here :func:`export_session` reads the session folder and writes the files, and
:func:`export_command` is the CLI's ``captioner export``.

Only committed captions are exported. Subtitle files (SRT, WebVTT) and plain text are
one per language and hold one caption at a time: where two sources overlap in one
language, the floor wins over the booth's interpretation, which wins over machine
translation. Markdown, DOCX and JSON hold every committed caption with its source.

Times are relative to the session start; with ``wall_clock`` the documents (text,
Markdown, DOCX, JSON) show the local time of day at the venue instead. Subtitle files
always keep session-relative times, because players match them to a recording.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from captioner.config import CaptionsConfig
from captioner.errors import CaptionerError
from captioner.files import atomic_write_bytes
from captioner.languages import LANGUAGES
from captioner.programme import Programme, programme_from_data
from captioner.record.docxexport import render_docx
from captioner.record.export import to_srt, to_vtt
from captioner.record.journal_read import JournalRead, read_journal
from captioner.record.session import SessionDir
from captioner.record.textexport import render_json, render_md, render_txt
from captioner.record.transcript import (
    Transcript,
    committed_captions,
    join_utterances,
    language_track,
    make_clock,
    track_cues,
)
from captioner.states import INPUT_LOST, INPUT_RESTORED

log = logging.getLogger(__name__)

FORMATS = ("srt", "vtt", "txt", "md", "docx", "json")
PER_LANGUAGE = ("srt", "vtt", "txt")


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_session` did.

    Attributes:
        paths: Files written.
        bad_lines: 1-based journal line numbers that were damaged and skipped.
        torn_tail: The journal's last line was cut off by a crash and skipped.
        empty_langs: Requested languages without committed captions; no per-language
            files were written for them.
        captions: How many committed captions were exported.
    """

    paths: list[Path] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)
    torn_tail: bool = False
    empty_langs: list[str] = field(default_factory=list)
    captions: int = 0


def captions_config(meta: dict[str, Any]) -> CaptionsConfig:
    """The caption settings from a session's config snapshot (defaults where absent)."""
    snap = meta.get("config", {})
    table = snap.get("captions", {}) if isinstance(snap, dict) else {}
    if not isinstance(table, dict):
        return CaptionsConfig()
    known = {f.name: f for f in fields(CaptionsConfig)}
    kwargs = {k: v for k, v in table.items() if k in known and isinstance(v, int | float)
              and not isinstance(v, bool)}
    return CaptionsConfig(**kwargs)


def load_transcript(session: SessionDir) -> tuple[Transcript, JournalRead]:
    """Reads a session's journal into a :class:`Transcript` (damage is skipped)."""
    read = read_journal(session.journal_path)
    try:
        started: datetime | None = session.started_at
    except (KeyError, TypeError, ValueError):
        started = None
    try:
        stopped = session.stopped_at
    except (TypeError, ValueError):
        stopped = None
    gaps = [s for s in read.statuses if s.state in (INPUT_LOST, INPUT_RESTORED)]
    doc = Transcript(session.name, session.title, started, stopped,
                     join_utterances(committed_captions(read.captions)), gaps, session.meta,
                     _programme(session))
    return doc, read


def _programme(session: SessionDir) -> Programme:
    data = session.programme()
    try:
        return programme_from_data(data or ())
    except (TypeError, KeyError, AttributeError) as exc:
        log.warning("%s: the saved programme is not readable, left out (%r)",
                    session.path, exc)
        return Programme()


def export_session(session_dir: str | Path | SessionDir, formats: Sequence[str] = FORMATS,
                   langs: Sequence[str] = LANGUAGES, wall_clock: bool = False,
                   cfg: CaptionsConfig | None = None) -> ExportReport:
    """Writes a session's exports into ``<session>/export/``.

    Files are named after the session folder: ``<name>.<lang>.srt``, ``.vtt`` and
    ``.txt`` per language, ``<name>.md``, ``<name>.docx`` and ``<name>.json`` for all
    languages. Each is written atomically. A damaged journal exports what it can; the
    report lists the skipped lines.

    Args:
        session_dir: The session folder (or an opened one).
        formats: Any of :data:`FORMATS`.
        langs: Language codes, in the order the documents show them.
        wall_clock: Show the venue's time of day in the documents.
        cfg: Caption layout for subtitles (default: the session's config snapshot).

    Raises:
        CaptionerError: not a session folder, unknown format, or the files cannot be
            written.
    """
    session = session_dir if isinstance(session_dir, SessionDir) else SessionDir.open(
        session_dir)
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise CaptionerError(f"unknown export format {bad[0]!r}",
                             hint=f"choose from {', '.join(FORMATS)}")
    if not langs:
        raise CaptionerError("no languages to export", hint="e.g. --lang ru,en")
    cfg = cfg or captions_config(session.meta)
    doc, read = load_transcript(session)
    clock = make_clock(doc.started_at, wall_clock)
    outputs: list[tuple[Path, bytes]] = []
    empty: list[str] = []
    stem = session.name
    for lang in langs:
        wanted = [f for f in formats if f in PER_LANGUAGE]
        track = language_track(doc.captions, lang)
        if not track:
            empty.append(lang)
            continue
        for fmt in wanted:
            if fmt == "txt":
                text = render_txt(track, clock)
            else:
                # SRT has no voices: a name opens the first cue at a change of speaker.
                cues = track_cues(track, lang, cfg, lead_names=fmt == "srt")
                text = to_srt(cues) if fmt == "srt" else to_vtt(cues)
            outputs.append((session.export_dir / f"{stem}.{lang}.{fmt}", text.encode("utf-8")))
    if "md" in formats:
        outputs.append((session.export_dir / f"{stem}.md",
                        render_md(doc, langs, wall_clock).encode("utf-8")))
    if "docx" in formats:
        outputs.append((session.export_dir / f"{stem}.docx", render_docx(doc, langs,
                                                                          wall_clock)))
    if "json" in formats:
        outputs.append((session.export_dir / f"{stem}.json",
                        render_json(doc, langs, read, wall_clock).encode("utf-8")))
    try:
        session.export_dir.mkdir(exist_ok=True)
        for path, data in outputs:
            atomic_write_bytes(path, data)
    except OSError as exc:
        raise CaptionerError(f"{session.export_dir}: cannot write exports "
                             f"({exc.strerror or exc})") from None
    if read.bad_lines:
        log.warning("%s: skipped %d damaged lines", session.journal_path, len(read.bad_lines))
    exported = sum(1 for c in doc.captions if c.lang in langs)
    return ExportReport([p for p, _ in outputs], list(read.bad_lines), read.torn_tail, empty,
                        exported)


def _ranges(numbers: Sequence[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"``."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in spans)


def export_command(session: str | Path, formats: Sequence[str] = FORMATS,
                   langs: Sequence[str] = LANGUAGES, wall_clock: bool = False) -> int:
    """``captioner export``: writes the exports and prints what it did.

    Written files go to stdout; skipped languages and journal damage to stderr as
    warnings (the exports of the readable rest are still written).

    Returns:
        0, including when damaged journal lines were skipped.

    Raises:
        CaptionerError: as :func:`export_session`.
    """
    report = export_session(session, formats, langs, wall_clock)
    for path in report.paths:
        print(path)
    journal = Path(session) / "journal.jsonl"
    for lang in report.empty_langs:
        per_lang = [f for f in formats if f in PER_LANGUAGE]
        if per_lang:
            print(f"warning: no committed {lang} captions; no {lang} "
                  f"{'/'.join(per_lang)} written", file=sys.stderr)
    if report.bad_lines:
        print(f"warning: {journal}: skipped {len(report.bad_lines)} damaged line(s): "
              f"{_ranges(report.bad_lines)}", file=sys.stderr)
    if report.torn_tail:
        print(f"warning: {journal}: the last line was cut off (the session crashed while "
              f"writing it) and was skipped", file=sys.stderr)
    print(f"exported {report.captions} captions from {Path(session)}", file=sys.stderr)
    return 0
