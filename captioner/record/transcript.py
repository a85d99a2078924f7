"""What every session document is made of: the transcript and its pure selections.

A :class:`Transcript` is what a session folder holds for its documents (read by
:func:`captioner.record.docexport.load_transcript`). The functions here choose and
order its captions (committed once each, utterances joined, one source at a time per
language) and say the facts every document shows (times, gaps, the header), with no
file and no format inside: :mod:`captioner.record.textexport` and
:mod:`captioner.record.docxexport` lay them out.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from captioner.config import CaptionsConfig
from captioner.events import Caption, Speaker, Status
from captioner.layout import Cue, cues_from_text, retime
from captioner.programme import Programme, item_when, speaker_label
from captioner.states import INPUT_LOST

SOURCE_LABELS = {"floor": "floor", "interpretation": "interpretation",
                 "machine": "machine translation"}
# Which source a per-language track keeps where two overlap: people before machines,
# the speaker before the interpreter.
SOURCE_PRIORITY = ("floor", "interpretation", "machine")
# A caption overlapped by better sources for more than this share of its span is left
# out of a language track.
_OVERLAP_SHARE = 0.5

#: What the source labels mean, for the documents' headers.
LEGEND = ("floor: speech from the room, transcribed; interpretation: the interpreters' "
          "booth, transcribed; machine translation: automatic, not reviewed.")


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
        programme: The event programme the session had (``programme.json``).
    """

    name: str
    title: str
    started_at: datetime | None
    stopped_at: datetime | None
    captions: list[Caption]
    gaps: list[Status] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    programme: Programme = Programme()


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


def speaker_heads(captions: Sequence[Caption]) -> list[Speaker | None]:
    """For each caption, its speaker where the speaker changes (from the caption before
    it in the same language), else None: where a document names who speaks."""
    last: dict[str, Speaker | None] = {}
    heads: list[Speaker | None] = []
    for cap in captions:
        heads.append(cap.speaker if cap.speaker is not None
                     and last.get(cap.lang) != cap.speaker else None)
        last[cap.lang] = cap.speaker
    return heads


def track_cues(track: Sequence[Caption], lang: str, cfg: CaptionsConfig,
               lead_names: bool = False) -> list[Cue]:
    """Subtitle cues for a language track, under the layout and timing rules.

    Each cue's ``voice`` is its caption's speaker; with ``lead_names`` (SRT, which has no
    voices) the first cue at a change of speaker opens with ``Name:``.
    """
    cues: list[Cue] = []
    for cap, head in zip(track, speaker_heads(track), strict=True):
        text = f"{head.name}: {cap.text}" if lead_names and head is not None else cap.text
        voice = cap.speaker.name if cap.speaker is not None else None
        cues.extend(dataclasses.replace(cue, voice=voice) for cue in
                    cues_from_text(text, cap.start_s, cap.end_s, lang, cfg))
    return retime(cues, cfg)


def carry_speakers(captions: Sequence[Caption], live: Sequence[Caption]) -> list[Caption]:
    """A re-transcription's captions with the speakers of the live record.

    Each caption takes the speaker of the live caption of the same input that began
    last before its middle (the two segment speech differently, so neither start is
    the other's). An input the live record named nobody on keeps None.
    """
    starts: dict[str, list[float]] = {}
    speakers: dict[str, list[Speaker | None]] = {}
    for cap in sorted(live, key=lambda c: c.start_s):
        starts.setdefault(cap.input_id, []).append(cap.start_s)
        speakers.setdefault(cap.input_id, []).append(cap.speaker)
    out = []
    for cap in captions:
        at = bisect.bisect_right(starts.get(cap.input_id, []), (cap.start_s + cap.end_s) / 2)
        speaker = speakers[cap.input_id][at - 1] if at else None
        out.append(dataclasses.replace(cap, speaker=speaker))
    return out


def programme_lines(programme: Programme) -> list[tuple[str, list[str]]]:
    """The programme as documents list it: per item ``15:00–15:10 Opening`` and its
    speakers as ``Name, role (ru)``."""
    out = []
    for item in programme.items:
        when = item_when(item)
        names = [speaker_label(s) + (f" ({s.language})" if s.language else "")
                 for s in item.speakers]
        out.append((f"{when} {item.title}" if when else item.title, names))
    return out


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


def gap_time(status: Status, started_at: datetime | None) -> float:
    """When an input gap status happened, in stream seconds.

    Args:
        status: An ``input_lost`` or ``input_restored`` status.
        started_at: The session start, for statuses without ``at_s`` (``None``: 0).
    """
    at = status.detail.get("at_s")
    if isinstance(at, int | float):
        return float(at)
    if started_at is not None:
        return status.emitted_ns / 1e9 - started_at.timestamp()
    return 0.0


def gap_text(status: Status) -> str:
    """A gap status as a note: ``booth input lost (unplugged)`` or
    ``booth input restored after 3.2 s``."""
    detail = status.detail
    who = status.input_id or detail.get("device") or "audio"
    if status.state == INPUT_LOST:
        why = detail.get("error") or detail.get("reason")
        return f"{who} input lost" + (f" ({why})" if why else "")
    gap = detail.get("gap_s", detail.get("lost_s"))
    after = f" after {float(gap):.1f} s" if isinstance(gap, int | float) else ""
    return f"{who} input restored{after}"


def header_facts(doc: Transcript, langs: Sequence[str],
                 wall_clock: bool) -> list[tuple[str, str]]:
    """The facts a document's header lists, as (label, value): date, time span with the
    venue's UTC offset, session name, captions per language, and how times are shown."""
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


def title_of(doc: Transcript) -> str:
    """The document title: the session's title, else ``Session <folder name>``."""
    return doc.title or f"Session {doc.name}"
