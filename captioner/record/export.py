"""Pure conversions from transcripts to subtitle and document formats.

Nothing here touches a file or a model: each function takes data and returns text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from captioner.config import CaptionsConfig
from captioner.events import Segment
from captioner.layout import Cue, cues_from_text, cues_from_words, retime

FORMATS = ("srt", "vtt", "txt", "json")


def _clock(seconds: float, sep: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rem = divmod(millis, 3_600_000)
    minutes, rem = divmod(rem, 60_000)
    secs, millis = divmod(rem, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def segments_to_cues(segments: Sequence[Segment], cfg: CaptionsConfig) -> list[Cue]:
    """Lays the segments out as subtitle cues, using word times where there are any."""
    cues: list[Cue] = []
    for seg in segments:
        if not seg.text.strip():
            continue
        if seg.words:
            cues.extend(cues_from_words(seg.words, seg.lang, cfg))
        else:
            cues.extend(cues_from_text(seg.text, seg.start_s, seg.end_s, seg.lang, cfg))
    return retime(cues, cfg)


def to_srt(cues: Sequence[Cue]) -> str:
    """SubRip text: numbered cues with ``HH:MM:SS,mmm`` times."""
    blocks = []
    for i, cue in enumerate(cues, 1):
        times = f"{_clock(cue.start_s, ',')} --> {_clock(cue.end_s, ',')}"
        blocks.append(f"{i}\n{times}\n" + "\n".join(cue.lines) + "\n")
    return "\n".join(blocks)


def _vtt_text(line: str) -> str:
    # "&" first, or the other escapes would be escaped again. "<" and "&" would be read
    # as markup; ">" is escaped too so that "-->" never appears in cue text, where a
    # line holding it is read as the timing line of a new cue.
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _vtt_voice(name: str) -> str:
    # The annotation of a voice span ends at ">"; a name is plain text on one line.
    return " ".join(_vtt_text(name).split())


def to_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT text with ``&``, ``<`` and ``>`` in cue text escaped; a cue with a
    ``voice`` opens with a voice span, ``<v Name>``.

    The one WebVTT writer, for ``captioner transcribe`` (:func:`render`) and
    ``captioner export`` (:mod:`captioner.record.docexport`) alike.
    """
    out = ["WEBVTT", ""]
    for cue in cues:
        out.append(f"{_clock(cue.start_s, '.')} --> {_clock(cue.end_s, '.')}")
        lines = [_vtt_text(line) for line in cue.lines]
        if cue.voice and lines:
            lines[0] = f"<v {_vtt_voice(cue.voice)}>{lines[0]}"
        out.extend(lines)
        out.append("")
    return "\n".join(out)


def to_txt(segments: Sequence[Segment]) -> str:
    """Plain running text, a paragraph per change of language or pause over 2 s."""
    paras: list[list[str]] = []
    last_end = None
    last_lang = None
    for seg in segments:
        text = seg.text.strip()
        if not text:
            continue
        if not paras or seg.lang != last_lang or (last_end is not None
                                                   and seg.start_s - last_end > 2.0):
            paras.append([])
        paras[-1].append(text)
        last_end, last_lang = seg.end_s, seg.lang
    return "\n\n".join(" ".join(p) for p in paras) + ("\n" if paras else "")


def to_json(segments: Sequence[Segment], meta: dict) -> str:
    """A JSON document: ``meta`` plus every segment with its words and confidence."""
    doc = dict(meta)
    doc["segments"] = [
        {
            "start_s": round(s.start_s, 3),
            "end_s": round(s.end_s, 3),
            "lang": s.lang,
            "text": s.text,
            "avg_logprob": round(s.avg_logprob, 4),
            "no_speech_prob": round(s.no_speech_prob, 4),
            "words": [
                {"text": w.text, "start_s": round(w.start_s, 3), "end_s": round(w.end_s, 3),
                 "probability": round(w.probability, 4)}
                for w in s.words
            ],
        }
        for s in segments
    ]
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def render(fmt: str, segments: Sequence[Segment], cfg: CaptionsConfig, meta: dict) -> str:
    """The transcript in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "txt":
        return to_txt(segments)
    if fmt == "json":
        return to_json(segments, meta)
    cues = segments_to_cues(segments, cfg)
    if fmt == "srt":
        return to_srt(cues)
    if fmt == "vtt":
        return to_vtt(cues)
    raise ValueError(f"unknown format {fmt!r}")
