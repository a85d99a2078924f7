"""Offline transcription of recordings into subtitle and text files."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from captioner import __version__
from captioner.asr import WhisperEngine
from captioner.audio import SAMPLE_RATE, decode_file
from captioner.config import Config
from captioner.errors import AudioError, CaptionerError
from captioner.events import Segment
from captioner.export import render

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


def write_atomic(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


@dataclass(frozen=True)
class Span:
    """A stretch of speech to decode on its own: sample indices and a language."""

    start: int
    end: int


def speech_spans(audio: np.ndarray, max_span_s: float = 20.0,
                 join_gap_s: float = 0.6) -> list[Span]:
    """Splits a recording into speech stretches of at most ``max_span_s``.

    Silero VAD finds the speech; chunks closer than ``join_gap_s`` are joined so that
    Whisper sees whole sentences, and each span is short enough to fit one window, so
    its language can be identified on its own (speakers switch between ru and en).
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    chunks = get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=400,
                                                     speech_pad_ms=300,
                                                     max_speech_duration_s=max_span_s))
    spans: list[Span] = []
    for chunk in chunks:
        start, end = int(chunk["start"]), int(chunk["end"])
        if spans and (start - spans[-1].end <= join_gap_s * SAMPLE_RATE
                      and end - spans[-1].start <= max_span_s * SAMPLE_RATE):
            spans[-1] = Span(spans[-1].start, end)
        else:
            spans.append(Span(start, end))
    return spans


def transcribe_audio(engine: WhisperEngine, audio: np.ndarray, language: str | None,
                     beam_size: int, progress=None) -> tuple[list[Segment], str]:
    """Transcribes a whole recording span by span, identifying the language of each.

    Returns:
        The segments on the recording's clock, and the main language (the one with the
        most speech).
    """
    segments: list[Segment] = []
    seconds: dict[str, float] = {}
    for span in speech_spans(audio):
        piece = audio[span.start:span.end]
        found, lang = engine.transcribe(
            piece, language, offset_s=span.start / SAMPLE_RATE, beam_size=beam_size,
            word_timestamps=True, temperature=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
            condition_on_previous_text=False)
        segments.extend(s for s in found if s.text.strip())
        seconds[lang] = seconds.get(lang, 0.0) + len(piece) / SAMPLE_RATE
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

        segments, lang = transcribe_audio(engine, audio, language, beam_size, progress)
        bar.update(duration - bar.n)
    meta = {
        "source": str(path),
        "duration_s": round(duration, 3),
        "language": lang,
        "languages": sorted({s.lang for s in segments}),
        "model": cfg.asr.model,
        "captioner": __version__,
    }
    outputs = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for fmt in formats:
            target = out_dir / f"{path.stem}.{fmt}"
            write_atomic(target, render(fmt, segments, cfg.captions, meta))
            outputs.append(target)
    except OSError as exc:
        return FileResult(path, ok=False, lang=lang, error=f"{path}: could not write outputs "
                          f"to {out_dir}: {exc.strerror or exc}")
    return FileResult(path, ok=True, lang=lang, text=_plain(segments), outputs=tuple(outputs),
                      audio_s=duration, elapsed_s=time.monotonic() - started)


def _plain(segments: Sequence[Segment]) -> str:
    return " ".join(s.text.strip() for s in segments if s.text.strip())


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    from captioner.export import FORMATS

    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise CaptionerError(f"unknown format {bad[0]!r}", hint=f"choose from {', '.join(FORMATS)}")
    return tuple(formats)
