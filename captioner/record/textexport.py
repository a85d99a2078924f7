"""Plain text, Markdown and JSON documents of a session's transcript.

Pure: a :class:`~captioner.record.transcript.Transcript` (or a language track of it)
in, text out; :mod:`captioner.record.docexport` writes the files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

from captioner.delivery.wire import caption_to_dict, status_to_dict
from captioner.events import Caption, Status
from captioner.programme import programme_to_data
from captioner.record.journal_read import JournalRead
from captioner.record.transcript import (
    LEGEND,
    SOURCE_LABELS,
    Transcript,
    committed_captions,
    gap_text,
    gap_time,
    header_facts,
    make_clock,
    programme_lines,
    speaker_heads,
    title_of,
)

# A pause this long (or a change of source) starts a new paragraph in plain text.
_PARAGRAPH_PAUSE_S = 2.0


def render_txt(track: Sequence[Caption], clock: Callable[[float], str]) -> str:
    """Running text of a language track, a paragraph per pause over 2 s or change of
    source or speaker, each opened by its time, and by the name at a change of speaker."""
    paras: list[tuple[float, list[str]]] = []
    prev: Caption | None = None
    for cap, head in zip(track, speaker_heads(track), strict=True):
        if prev is None or cap.source != prev.source or cap.speaker != prev.speaker or (
                cap.start_s - prev.end_s > _PARAGRAPH_PAUSE_S):
            paras.append((cap.start_s, [f"{head.name}:"] if head is not None else []))
        paras[-1][1].append(cap.text.strip())
        prev = cap
    return "".join(f"[{clock(t)}] {' '.join(texts)}\n\n" for t, texts in paras).rstrip("\n") + (
        "\n" if paras else "")


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#])")


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _timeline(doc: Transcript, langs: Sequence[str]) -> list[tuple[float, Caption | Status]]:
    """Captions of the languages and gap notes, in time order."""
    items: list[tuple[float, Caption | Status]] = [
        (c.start_s, c) for c in doc.captions if c.lang in langs]
    items.extend((gap_time(s, doc.started_at), s) for s in doc.gaps)
    items.sort(key=lambda item: item[0])
    return items


def render_md(doc: Transcript, langs: Sequence[str], wall_clock: bool = False) -> str:
    """A bilingual Markdown transcript: a header, then every caption in time order with
    its time, language and source, and notes where an input was lost."""
    clock = make_clock(doc.started_at, wall_clock)
    out = [f"# {_md(title_of(doc))}", ""]
    out.extend(f"- **{key}:** {_md(value)}" for key, value in header_facts(doc, langs,
                                                                         wall_clock))
    out += ["", f"Sources: {_md(LEGEND)}", ""]
    if doc.programme:
        out += ["## Programme", ""]
        for item, names in programme_lines(doc.programme):
            out.append(f"- **{_md(item)}**")
            out.extend(f"  - {_md(name)}" for name in names)
        out.append("")
    out += ["## Transcript", ""]
    timeline = _timeline(doc, langs)
    if not any(isinstance(item, Caption) for _, item in timeline):
        out += ["_No committed captions._", ""]
    captions = [item for _, item in timeline if isinstance(item, Caption)]
    heads = dict(zip(map(id, captions), speaker_heads(captions), strict=True))
    for t_s, item in timeline:
        if isinstance(item, Caption):
            label = SOURCE_LABELS.get(item.source, item.source)
            head = heads[id(item)]
            # At a change of speaker on this language's track, the name, in bold.
            name = "" if head is None else f"**{_md(head.name)}**" + (
                f" _({_md(head.role)})_" if head.role else "") + ": "
            out += [f"**[{clock(t_s)}] {item.lang.upper()} · {label}** {name}"
                    f"{_md(item.text)}", ""]
        else:
            out += [f"> _[{clock(t_s)}] {_md(gap_text(item))}_", ""]
    return "\n".join(out).rstrip("\n") + "\n"


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
        "programme": programme_to_data(doc.programme),
        "captions": captions,
        "events": [status_to_dict(s) for s in doc.gaps],
    }
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"
