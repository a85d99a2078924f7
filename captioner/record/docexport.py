"""Session exports: the journal into SRT, WebVTT, text, Markdown, DOCX and JSON.

The conversions are pure (captions in, text or bytes out); :func:`export_session` reads
the session folder and writes the files, and :func:`export_command` is the CLI's
``captioner export``.

Only committed captions are exported. Subtitle files (SRT, WebVTT) and plain text are
one per language and hold one caption at a time: where two sources overlap in one
language, the floor wins over the booth's interpretation, which wins over machine
translation. Markdown, DOCX and JSON hold every committed caption with its source.

Times are relative to the session start; with ``wall_clock`` the documents (text,
Markdown, DOCX, JSON) show the local time of day at the venue instead. Subtitle files
always keep session-relative times, because players match them to a recording.
"""

from __future__ import annotations

import bisect
import dataclasses
import io
import json
import logging
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from captioner.config import CaptionsConfig
from captioner.delivery.wire import caption_to_dict, status_to_dict
from captioner.errors import CaptionerError
from captioner.events import Caption, Status
from captioner.files import atomic_write_bytes
from captioner.languages import LANGUAGES
from captioner.layout import Cue, cues_from_text, retime
from captioner.record.export import to_srt, to_vtt
from captioner.record.journal_read import JournalRead, read_journal
from captioner.record.session import SessionDir
from captioner.states import INPUT_LOST, INPUT_RESTORED

log = logging.getLogger(__name__)

FORMATS = ("srt", "vtt", "txt", "md", "docx", "json")
PER_LANGUAGE = ("srt", "vtt", "txt")
SOURCE_LABELS = {"floor": "floor", "interpretation": "interpretation",
                 "machine": "machine translation"}
# Which source a per-language track keeps where two overlap: people before machines,
# the speaker before the interpreter.
SOURCE_PRIORITY = ("floor", "interpretation", "machine")
# A caption overlapped by better sources for more than this share of its span is left
# out of a language track.
_OVERLAP_SHARE = 0.5
# A pause this long (or a change of source) starts a new paragraph in plain text.
_PARAGRAPH_PAUSE_S = 2.0


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


@dataclass(frozen=True)
class Transcript:
    """Everything a document needs, read from a session folder.

    Attributes:
        name: The session folder's name (the stem of the exported files).
        title: Human title (may be empty).
        started_at: Session start with the venue's UTC offset; stream time 0.
        stopped_at: Stop time, ``None`` if the session never closed (crash).
        captions: Committed captions, one per ``seq``, ordered by start time.
        gaps: ``input_lost``/``input_restored`` statuses in file order.
        meta: The session's metadata (``session.json``).
    """

    name: str
    title: str
    started_at: datetime | None
    stopped_at: datetime | None
    captions: list[Caption]
    gaps: list[Status] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


# -- pure helpers -------------------------------------------------------------------------


def committed_captions(captions: Sequence[Caption]) -> list[Caption]:
    """Committed captions, each ``seq`` once (the first wins), ordered by start time."""
    seen: set[int] = set()
    out = []
    for cap in captions:
        if not cap.final or not cap.text.strip():
            continue
        if cap.seq is not None:
            if cap.seq in seen:
                continue
            seen.add(cap.seq)
        out.append(cap)
    out.sort(key=lambda c: (c.start_s, c.seq if c.seq is not None else 0))
    return out


def join_utterances(captions: Sequence[Caption], max_chars: int = 240,
                    max_span_s: float = 15.0) -> list[Caption]:
    """Joins the committed fragments of one utterance into one caption.

    Live captions are committed a few words at a time, as soon as they are certain;
    a document wants whole phrases. Fragments that follow each other with the same
    utterance ``id``, language, source and input are joined, up to ``max_chars`` and
    ``max_span_s``, keeping the first fragment's ``seq``.
    """
    out: list[Caption] = []
    open_at: dict[tuple[str, str, str, str], int] = {}
    for cap in sorted(captions, key=lambda c: (c.seq is None, c.seq or 0, c.start_s)):
        key = (cap.id, cap.lang, cap.source, cap.input_id)
        at = open_at.get(key)
        last = out[at] if at is not None else None
        if (last is not None and len(last.text) + len(cap.text) < max_chars
                and cap.end_s - last.start_s <= max_span_s):
            out[at] = dataclasses.replace(
                last, text=f"{last.text} {cap.text}".strip(), end_s=max(last.end_s, cap.end_s),
                words=last.words + cap.words)
        else:
            open_at[key] = len(out)
            out.append(cap)
    out.sort(key=lambda c: (c.start_s, c.seq if c.seq is not None else 0))
    return out


def _covered(spans: list[tuple[float, float]], ends: list[float], lo: float, hi: float) -> float:
    """Seconds of ``[lo, hi]`` covered by sorted, disjoint ``spans`` (``ends`` = their ends)."""
    total = 0.0
    i = bisect.bisect_right(ends, lo)
    while i < len(spans) and spans[i][0] < hi:
        total += max(0.0, min(hi, spans[i][1]) - max(lo, spans[i][0]))
        i += 1
    return total


def _merge_spans(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def language_track(captions: Sequence[Caption], lang: str) -> list[Caption]:
    """The captions of one language, one source at a time.

    Where sources overlap, a caption that better sources (:data:`SOURCE_PRIORITY`)
    already cover for more than half its span is left out.

    Args:
        captions: Committed captions, ordered by start time.
        lang: The language code.
    """
    mine = [c for c in captions if c.lang == lang]
    order = list(SOURCE_PRIORITY) + sorted({c.source for c in mine} - set(SOURCE_PRIORITY))
    kept: list[Caption] = []
    spans: list[tuple[float, float]] = []
    for source in order:
        ends = [hi for _, hi in spans]
        level = [c for c in mine if c.source == source]
        chosen = []
        for cap in level:
            hi = max(cap.end_s, cap.start_s + 1e-3)
            if _covered(spans, ends, cap.start_s, hi) <= _OVERLAP_SHARE * (hi - cap.start_s):
                chosen.append(cap)
        kept.extend(chosen)
        spans = _merge_spans(spans + [(c.start_s, max(c.end_s, c.start_s)) for c in chosen])
    kept.sort(key=lambda c: (c.start_s, c.seq if c.seq is not None else 0))
    return kept


def track_cues(track: Sequence[Caption], lang: str, cfg: CaptionsConfig) -> list[Cue]:
    """Subtitle cues for a language track, under the layout and timing rules."""
    cues: list[Cue] = []
    for cap in track:
        cues.extend(cues_from_text(cap.text, cap.start_s, cap.end_s, lang, cfg))
    return retime(cues, cfg)


def make_clock(started_at: datetime | None, wall_clock: bool) -> Callable[[float], str]:
    """Formats a stream time as ``HH:MM:SS``: since the session start, or the venue's
    local time of day when ``wall_clock`` (and the start is known)."""
    if wall_clock and started_at is not None:
        def wall(t_s: float) -> str:
            return (started_at + timedelta(seconds=t_s)).strftime("%H:%M:%S")
        return wall

    def relative(t_s: float) -> str:
        secs = max(0, int(t_s))
        return f"{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"
    return relative


def render_txt(track: Sequence[Caption], clock: Callable[[float], str]) -> str:
    """Running text of a language track, a paragraph per pause over 2 s or change of
    source, each opened by its time."""
    paras: list[tuple[float, list[str]]] = []
    prev: Caption | None = None
    for cap in track:
        if prev is None or cap.source != prev.source or (
                cap.start_s - prev.end_s > _PARAGRAPH_PAUSE_S):
            paras.append((cap.start_s, []))
        paras[-1][1].append(cap.text.strip())
        prev = cap
    return "".join(f"[{clock(t)}] {' '.join(texts)}\n\n" for t, texts in paras).rstrip("\n") + (
        "\n" if paras else "")


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#])")


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _gap_time(status: Status, started_at: datetime | None) -> float:
    at = status.detail.get("at_s")
    if isinstance(at, int | float):
        return float(at)
    if started_at is not None:
        return status.emitted_ns / 1e9 - started_at.timestamp()
    return 0.0


def _gap_text(status: Status) -> str:
    """``booth input lost (unplugged)`` / ``booth input restored after 3.2 s``."""
    detail = status.detail
    who = status.input_id or detail.get("device") or "audio"
    if status.state == INPUT_LOST:
        why = detail.get("error") or detail.get("reason")
        return f"{who} input lost" + (f" ({why})" if why else "")
    gap = detail.get("gap_s", detail.get("lost_s"))
    after = f" after {float(gap):.1f} s" if isinstance(gap, int | float) else ""
    return f"{who} input restored{after}"


def _timeline(doc: Transcript, langs: Sequence[str]) -> list[tuple[float, Caption | Status]]:
    """Captions of the languages and gap notes, in time order."""
    items: list[tuple[float, Caption | Status]] = [
        (c.start_s, c) for c in doc.captions if c.lang in langs]
    items.extend((_gap_time(s, doc.started_at), s) for s in doc.gaps)
    items.sort(key=lambda item: item[0])
    return items


def _header_facts(doc: Transcript, langs: Sequence[str], wall_clock: bool) -> list[tuple[str,
                                                                                         str]]:
    facts = []
    if doc.started_at is not None:
        facts.append(("Date", doc.started_at.strftime("%Y-%m-%d")))
        end = "not closed"
        if doc.stopped_at is not None:
            stop = doc.stopped_at.astimezone(doc.started_at.tzinfo)
            end = stop.strftime("%H:%M:%S" if stop.date() == doc.started_at.date()
                                else "%Y-%m-%d %H:%M:%S")
        offset = doc.started_at.strftime("%z")
        facts.append(("Time", f"{doc.started_at.strftime('%H:%M:%S')} – {end} "
                      f"(UTC{offset[:3]}:{offset[3:]})"))
    facts.append(("Session", doc.name))
    counts = ", ".join(f"{lang} {sum(c.lang == lang for c in doc.captions)}" for lang in langs)
    facts.append(("Captions", counts))
    facts.append(("Times", "local time of day" if wall_clock and doc.started_at
                  else "since the session start"))
    return facts


def _title(doc: Transcript) -> str:
    return doc.title or f"Session {doc.name}"


_LEGEND = ("floor: speech from the room, transcribed; interpretation: the interpreters' "
           "booth, transcribed; machine translation: automatic, not reviewed.")


def render_md(doc: Transcript, langs: Sequence[str], wall_clock: bool = False) -> str:
    """A bilingual Markdown transcript: a header, then every caption in time order with
    its time, language and source, and notes where an input was lost."""
    clock = make_clock(doc.started_at, wall_clock)
    out = [f"# {_md(_title(doc))}", ""]
    out.extend(f"- **{key}:** {_md(value)}" for key, value in _header_facts(doc, langs,
                                                                          wall_clock))
    out += ["", f"Sources: {_md(_LEGEND)}", "", "## Transcript", ""]
    timeline = _timeline(doc, langs)
    if not any(isinstance(item, Caption) for _, item in timeline):
        out += ["_No committed captions._", ""]
    for t_s, item in timeline:
        if isinstance(item, Caption):
            label = SOURCE_LABELS.get(item.source, item.source)
            out += [f"**[{clock(t_s)}] {item.lang.upper()} · {label}** {_md(item.text)}", ""]
        else:
            out += [f"> _[{clock(t_s)}] {_md(_gap_text(item))}_", ""]
    return "\n".join(out).rstrip("\n") + "\n"


@dataclass
class TableRow:
    """One row of the DOCX table: a time span and at most one caption per language."""

    start_s: float
    end_s: float
    cells: dict[str, Caption]


def align_rows(captions: Sequence[Caption], langs: Sequence[str]) -> list[TableRow]:
    """Groups captions into rows of one caption per language that overlap in time.

    A caption joins the current row when its language's cell is free and it starts
    before the row's captions end; otherwise it opens a new row.
    """
    rows: list[TableRow] = []
    for cap in captions:
        if cap.lang not in langs:
            continue
        row = rows[-1] if rows else None
        if row is not None and cap.lang not in row.cells and cap.start_s < row.end_s:
            row.cells[cap.lang] = cap
            row.end_s = max(row.end_s, cap.end_s)
        else:
            rows.append(TableRow(cap.start_s, max(cap.end_s, cap.start_s + 1e-3), {cap.lang: cap}))
    return rows


def render_docx(doc: Transcript, langs: Sequence[str], wall_clock: bool = False) -> bytes:
    """A DOCX transcript: a header, then a table Time | <lang> | <lang> aligned by time,
    each caption labelled with its source, and notes where an input was lost."""
    try:
        import docx
        from docx.shared import Pt, RGBColor
    except ImportError:
        raise CaptionerError("DOCX export needs the python-docx package",
                             hint="pip install python-docx, or leave docx out of --format"
                             ) from None

    clock = make_clock(doc.started_at, wall_clock)
    document = docx.Document()
    document.core_properties.title = _title(doc)
    if doc.started_at is not None:
        document.core_properties.created = doc.started_at
    document.add_heading(_title(doc), level=0)
    for key, value in _header_facts(doc, langs, wall_clock):
        para = document.add_paragraph()
        para.add_run(f"{key}: ").bold = True
        para.add_run(value)
    legend = document.add_paragraph()
    legend.add_run("Sources. ").bold = True
    legend.add_run(_LEGEND).italic = True

    table = document.add_table(rows=1, cols=1 + len(langs))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, ["Time", *(lang.upper() for lang in langs)],
                          strict=True):
        cell.paragraphs[0].add_run(text).bold = True
    rows: list[tuple[float, TableRow | Status]] = [
        (r.start_s, r) for r in align_rows(doc.captions, langs)]
    rows.extend((_gap_time(s, doc.started_at), s) for s in doc.gaps)
    rows.sort(key=lambda item: item[0])
    for t_s, item in rows:
        cells = table.add_row().cells
        cells[0].text = clock(t_s)
        if isinstance(item, Status):
            merged = cells[1].merge(cells[-1]) if len(cells) > 2 else cells[1]
            merged.paragraphs[0].add_run(_gap_text(item)).italic = True
            continue
        for col, lang in enumerate(langs, 1):
            cap = item.cells.get(lang)
            if cap is None:
                continue
            para = cells[col].paragraphs[0]
            label = para.add_run(SOURCE_LABELS.get(cap.source, cap.source) + ": ")
            label.italic = True
            label.font.size = Pt(8)
            label.font.color.rgb = RGBColor(0x66, 0x66, 0x66)
            para.add_run(" ".join(cap.text.split()))
    if len(table.rows) == 1:
        document.add_paragraph("No committed captions.")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def render_json(doc: Transcript, langs: Sequence[str], read: JournalRead,
                wall_clock: bool = False) -> str:
    """Every committed caption of the languages in wire form, plus ``clock`` (the time
    as the documents show it), the session facts and the gap events."""
    clock = make_clock(doc.started_at, wall_clock)
    captions = []
    # The record as it was committed, fragment by fragment (documents join them).
    for cap in committed_captions(read.captions):
        if cap.lang in langs:
            entry = caption_to_dict(cap)
            entry["clock"] = clock(cap.start_s)
            captions.append(entry)
    body = {
        "format": "captioner-transcript",
        "version": 1,
        "session": {
            "name": doc.name,
            "title": doc.title,
            "started_at": doc.meta.get("started_at"),
            "stopped_at": doc.meta.get("stopped_at"),
            "inputs": doc.meta.get("inputs", []),
            "models": doc.meta.get("models", {}),
        },
        "languages": list(langs),
        "times": "wall_clock" if wall_clock and doc.started_at else "session",
        "journal": {"bad_lines": read.bad_lines, "torn_tail": read.torn_tail},
        "captions": captions,
        "events": [status_to_dict(s) for s in doc.gaps],
    }
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"


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


# -- files ----------------------------------------------------------------------------------


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
                     join_utterances(committed_captions(read.captions)), gaps, session.meta)
    return doc, read


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
                cues = track_cues(track, lang, cfg)
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
