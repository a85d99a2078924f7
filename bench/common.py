"""Helpers shared by the benchmarks: finding clips and their references, error rates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

AUDIO_EXT = {".wav", ".flac", ".ogg", ".mp3", ".m4a", ".mp4", ".opus", ".webm"}
REFS = Path(__file__).with_name("refs.tsv")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
# A numeric range is written with a dash and read with "to": Whisper writes "25-30"
# for "twenty-five to thirty" on some passes and "25 to 30" on others, as the
# reference has it (en_fleurs_000). Scored as a missing word, it measured formatting.
_RANGE = re.compile(r"(?<=\d)\s*[-\u2013]\s*(?=\d)")


@dataclass(frozen=True)
class BenchClip:
    path: Path
    lang: str | None
    reference: str | None


def normalise(text: str, lang: str | None = None) -> str:
    if lang == "en":
        text = _RANGE.sub(" to ", text)
    text = text.lower().replace("ё", "е").replace("-", " ")
    return " ".join(_PUNCT.sub(" ", text).split())


def error_rate(reference: str, hypothesis: str, lang: str | None) -> tuple[str, float]:
    """WER for English, CER for Russian (inflection makes Russian WER harsh)."""
    import jiwer

    ref, hyp = normalise(reference, lang), normalise(hypothesis, lang) or "<empty>"
    if lang == "ru":
        return "CER", jiwer.cer(ref, hyp)
    return "WER", jiwer.wer(ref, hyp)


def reference_units(reference: str, lang: str | None) -> int:
    """How many units :func:`error_rate` counts in ``reference``: characters for
    Russian, words otherwise (to pool error rates over clips)."""
    ref = normalise(reference, lang)
    return len(ref) if lang == "ru" else len(ref.split())


def _refs() -> dict[str, tuple[str, str]]:
    out = {}
    for line in REFS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, lang, text = line.split("\t", 2)
            out[name] = (lang, text)
    return out


def find_clips(paths: list[str]) -> list[BenchClip]:
    """Audio files under the given files or folders, with references where known.

    A reference is a ``.txt`` beside the clip, or a line of ``bench/refs.tsv``; the
    language comes from there or from a ``ru_``/``en_`` prefix or parent folder name.
    """
    refs = _refs()
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        files.extend(sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_EXT)
                     if p.is_dir() else [p])
    clips = []
    for f in files:
        lang, ref = refs.get(f.name, (None, None))
        side = f.with_suffix(".txt")
        if ref is None and side.exists():
            ref = side.read_text(encoding="utf-8").strip()
        if lang is None:
            for cand in ("ru", "en"):
                if f.name.startswith(cand + "_") or f.parent.name == cand:
                    lang = cand
        clips.append(BenchClip(f, lang, ref))
    return clips


def load_bench_engine(model: str, note: str = ""):
    """Loads a store model as the live pipeline would, and prints the machine and model."""
    from bench.machine import describe
    from captioner.config import load_config
    from captioner.recognition.asr import WhisperEngine, choose_placement
    from captioner.store.models import ModelStore, default_root

    placement = choose_placement("auto", "auto", 0)
    engine = WhisperEngine(ModelStore(default_root()).resolve_whisper(model), placement,
                           load_config().asr.languages)
    placement = engine.placement  # after any fall back from an unusable GPU
    print(f"machine: {describe()}")
    print(f"model: {model} on {placement.device} ({placement.compute_type}, "
          f"{placement.threads} threads){'; ' + note if note else ''}")
    print(f"calibration: {calibrate(engine):.3f} s for one provisional pass over 5 s of the "
          "demo recording (compare runs by this: neighbours on a shared host slow it)")
    return engine


def calibrate(engine, repeats: int = 5) -> float:
    """Median time of a live-style pass (greedy, short window, word times) over 5 s."""
    import statistics
    import time

    from captioner.inputs.audio import decode_file
    from captioner.runner import DEMO_RECORDING

    audio = decode_file(DEMO_RECORDING)[: 5 * 16000]
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        engine.transcribe(audio, "ru", beam_size=1, temperature=0.0, window_s=None)
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])
