"""Offline transcription of recordings into subtitle and text files."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from captioner import __version__
from captioner.config import Config
from captioner.errors import AudioError, CaptionerError
from captioner.events import SAMPLE_RATE, Segment
from captioner.files import atomic_write_text
from captioner.inputs.audio import decode_file
from captioner.recognition.asr import WhisperEngine
from captioner.record.export import render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileResult:
    """What happened to one input."""

    path: Path
    ok: bool
    lang: str | None = None
    text: str = ""
    outputs: tuple[Path, ...] = ()
    error: str | None = None
    audio_s: float = 0.0
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class Span:
    """A stretch of speech to decode on its own: sample indices, the voice-activity
    chunks it joins (sample indices too) and, where identified, their language."""

    start: int
    end: int
    lang: str | None = None
    chunks: tuple[tuple[int, int], ...] = ()


# A chunk of speech shorter than this is not identified on its own: on 0.4 s of the
# lecture Whisper gave P(ru) = 0.01 (captioner.recognition.language.LanguageRule).
MIN_IDENTIFY_S = 1.0
# Speech no word of a pass covers, this long or longer, is decoded again on its own.
UNCOVERED_S = 1.0


def join_chunks(chunks: Sequence[tuple[int, int, str | None]], max_span_s: float = 20.0,
                join_gap_s: float = 0.6) -> list[Span]:
    """Joins voice-activity chunks closer than ``join_gap_s`` into spans of at most
    ``max_span_s``, but never two chunks identified in different languages.

    A 1.5 s pause between a Russian and an English speaker showed as a 0.9 s gap, and
    a span of both was identified as Russian and decoded in it: Whisper stopped at the
    end of the Russian and the English sentence was never transcribed. A chunk too short
    to identify (``None``) joins its neighbour, and a span takes the language of its
    first identified chunk.

    Args:
        chunks: (start, end, language or None) in samples, in order.
        max_span_s: Longest span.
        join_gap_s: Longest gap inside a span.
    """
    spans: list[Span] = []
    for start, end, lang in chunks:
        last = spans[-1] if spans else None
        close = last is not None and (start - last.end <= join_gap_s * SAMPLE_RATE
                                      and end - last.start <= max_span_s * SAMPLE_RATE)
        if close and (lang is None or last.lang is None or lang == last.lang):
            spans[-1] = Span(last.start, end, last.lang or lang,
                             (*last.chunks, (start, end)))
        else:
            spans.append(Span(start, end, lang, ((start, end),)))
    return spans


def speech_spans(audio: np.ndarray, max_span_s: float = 20.0, join_gap_s: float = 0.6,
                 identify=None) -> list[Span]:
    """Splits a recording into speech stretches of at most ``max_span_s``.

    Silero VAD finds the speech; chunks closer than ``join_gap_s`` are joined so that
    Whisper sees whole sentences, and each span is short enough to fit one window. With
    ``identify`` (samples -> language), each chunk of at least ``MIN_IDENTIFY_S`` is
    identified first and chunks in different languages are never joined (speakers
    switch between ru and en; see :func:`join_chunks`).
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    found = get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=400,
                                                    speech_pad_ms=300,
                                                    max_speech_duration_s=max_span_s))
    chunks = []
    for chunk in found:
        start, end = int(chunk["start"]), int(chunk["end"])
        lang = (identify(audio[start:end])
                if identify is not None and end - start >= MIN_IDENTIFY_S * SAMPLE_RATE
                else None)
        chunks.append((start, end, lang))
    return join_chunks(chunks, max_span_s, join_gap_s)


def uncovered(chunks: Sequence[tuple[int, int]], segments: Sequence[Segment],
              min_s: float = UNCOVERED_S) -> list[tuple[int, int]]:
    """Runs of voice-activity chunks that no decoded word overlaps, with at least
    ``min_s`` of speech in them: speech Whisper skipped or whose segment was dropped.

    Args:
        chunks: The span's chunks, (start, end) in samples, in order.
        segments: What decoding the span gave (times in seconds on the same clock).
    """
    words = [(w.start_s * SAMPLE_RATE, w.end_s * SAMPLE_RATE)
             for seg in segments for w in seg.words]
    runs: list[list[tuple[int, int]]] = []
    open_run = False
    for start, end in chunks:
        heard = any(a < end and b > start for a, b in words)
        if heard:
            open_run = False
        elif open_run:
            runs[-1].append((start, end))
        else:
            runs.append([(start, end)])
            open_run = True
    return [(run[0][0], run[-1][1]) for run in runs
            if sum(e - s for s, e in run) >= min_s * SAMPLE_RATE]


@dataclass(frozen=True)
class Dropped:
    """Speech the voice activity detector heard and no decoding could read."""

    start_s: float
    end_s: float
    reason: str


def transcribe_audio(engine: WhisperEngine, audio: np.ndarray, language: str | None,
                     beam_size: int, progress=None,
                     dropped: list[Dropped] | None = None) -> tuple[list[Segment], str]:
    """Transcribes a whole recording span by span, identifying the language of each.

    With no forced ``language``, every chunk of speech is identified before spans are
    joined, so a span never crosses a change of language. Speech that a span's decoding
    left without a word (Whisper stopped early, or its segment was dropped at every
    temperature) is decoded again on its own, its language identified anew, then in the
    other language; what still gives nothing is reported in ``dropped``, never silently
    lost.

    Returns:
        The segments on the recording's clock, and the main language (the one with the
        most speech).
    """
    segments: list[Segment] = []
    seconds: dict[str, float] = {}
    identify = None
    if language is None and len(engine.languages) > 1:
        def identify(piece: np.ndarray) -> str:
            return engine.detect_language(piece, 30).lang

    def decode(start: int, end: int, lang: str | None) -> tuple[list[Segment], str]:
        found, lang = engine.transcribe(
            audio[start:end], lang, offset_s=start / SAMPLE_RATE, beam_size=beam_size,
            word_timestamps=True, temperature=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
            condition_on_previous_text=False)
        return [s for s in found if s.text.strip()], lang

    for span in speech_spans(audio, identify=identify):
        found, lang = decode(span.start, span.end, language or span.lang)
        for start, end in uncovered(span.chunks, found):
            again, again_lang = decode(start, end, language)
            if not again and language is None:
                other = next((x for x in engine.languages if x != again_lang), None)
                if other is not None:
                    again, again_lang = decode(start, end, other)
            if again:
                log.info("%.1f-%.1f s: decoded again on its own (%s)", start / SAMPLE_RATE,
                         end / SAMPLE_RATE, again_lang)
                found.extend(again)
            elif dropped is not None:
                dropped.append(Dropped(start / SAMPLE_RATE, end / SAMPLE_RATE, "no words"))
        found.sort(key=lambda s: s.start_s)
        segments.extend(found)
        seconds[lang] = seconds.get(lang, 0.0) + (span.end - span.start) / SAMPLE_RATE
        if progress is not None:
            progress(span.end / SAMPLE_RATE)
    main = max(seconds, key=seconds.get) if seconds else (language or engine.languages[0])
    return segments, main


def transcribe_file(engine: WhisperEngine, path: Path, cfg: Config, language: str | None,
                    formats: Sequence[str], out_dir: Path, beam_size: int) -> FileResult:
    """Decodes, transcribes and writes one input; failures come back as a result.

    Args:
        engine: Loaded Whisper model.
        path: Audio or video file.
        cfg: Configuration (caption layout for subtitle formats).
        language: Forced language or None for identification among the configured ones.
        formats: Output formats to write.
        out_dir: Where the outputs go, named after the input.
        beam_size: Decoding beam.
    """
    started = time.monotonic()
    try:
        audio = decode_file(path)
    except AudioError as exc:
        return FileResult(path, ok=False, error=str(exc))
    duration = len(audio) / SAMPLE_RATE
    with tqdm(total=round(duration, 1), desc=path.name, unit="s", file=sys.stderr,
              leave=False, disable=None, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s "
              "[{elapsed}<{remaining}]") as bar:
        def progress(done_s: float) -> None:
            bar.update(max(0.0, min(done_s, duration) - bar.n))

        dropped: list[Dropped] = []
        segments, lang = transcribe_audio(engine, audio, language, beam_size, progress,
                                          dropped)
        bar.update(duration - bar.n)
    for drop in dropped:
        log.warning("%s: %.1f-%.1f s: speech that no decoding could read (%s); left out",
                    path.name, drop.start_s, drop.end_s, drop.reason)
    meta = {
        "source": str(path),
        "duration_s": round(duration, 3),
        "language": lang,
        "languages": sorted({s.lang for s in segments}),
        "model": cfg.asr.model,
        "captioner": __version__,
        "speech_dropped": [{"start_s": round(d.start_s, 3), "end_s": round(d.end_s, 3),
                            "reason": d.reason} for d in dropped],
    }
    outputs = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for fmt in formats:
            target = out_dir / f"{path.stem}.{fmt}"
            atomic_write_text(target, render(fmt, segments, cfg.captions, meta))
            outputs.append(target)
    except OSError as exc:
        return FileResult(path, ok=False, lang=lang, error=f"{path}: could not write outputs "
                          f"to {out_dir}: {exc.strerror or exc}")
    return FileResult(path, ok=True, lang=lang, text=_plain(segments), outputs=tuple(outputs),
                      audio_s=duration, elapsed_s=time.monotonic() - started)


def _plain(segments: Sequence[Segment]) -> str:
    return " ".join(s.text.strip() for s in segments if s.text.strip())


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    from captioner.record.export import FORMATS

    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise CaptionerError(f"unknown format {bad[0]!r}", hint=f"choose from {', '.join(FORMATS)}")
    return tuple(formats)
