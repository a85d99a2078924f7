"""Offline transcription benchmark: real-time factor, accuracy and peak memory.

Usage:
    .venv/bin/python -m bench.transcribe ../shared/audio [--beam-size 5] [--model NAME]

Prints one row per clip (duration, processing time, RTF = processing / audio time,
detected language, WER or CER where a reference is known) and totals, with the
machine it ran on and the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import resource
import time

from bench.common import error_rate, find_clips
from bench.machine import describe
from captioner.config import load_config
from captioner.events import SAMPLE_RATE
from captioner.inputs.audio import decode_file
from captioner.recognition.asr import WhisperEngine, choose_placement
from captioner.recognition.transcribe import transcribe_audio
from captioner.store.models import ModelStore, default_root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("paths", nargs="+", help="clips or folders of clips")
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    cfg = load_config()
    placement = choose_placement(args.device, "auto", 0)
    t0 = time.perf_counter()
    engine = WhisperEngine(ModelStore(default_root()).resolve_whisper(args.model), placement,
                           cfg.asr.languages)
    load_s = time.perf_counter() - t0
    print(f"machine: {describe()}")
    print(f"model: {args.model} on {placement.device} ({placement.compute_type}, "
          f"{placement.threads} threads), beam {args.beam_size}; load {load_s:.1f} s")
    print(f"{'clip':34} {'audio s':>7} {'proc s':>7} {'RTF':>5} {'lang':>4} {'err':>10}")
    total_audio = total_proc = 0.0
    for clip in find_clips(args.paths):
        audio = decode_file(clip.path)
        dur = len(audio) / SAMPLE_RATE
        start = time.perf_counter()
        segments, lang = transcribe_audio(engine, audio, None, args.beam_size)
        proc = time.perf_counter() - start
        total_audio += dur
        total_proc += proc
        err = ""
        if clip.reference:
            kind, value = error_rate(clip.reference, " ".join(s.text for s in segments),
                                     clip.lang)
            err = f"{kind} {value * 100:4.1f}%"
        flag = "" if clip.lang in (None, lang) else "!"
        print(f"{clip.path.name[:34]:34} {dur:7.1f} {proc:7.2f} {proc / dur:5.2f} "
              f"{lang + flag:>4} {err:>10}", flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"total: {total_audio:.1f} s of audio in {total_proc:.1f} s, RTF "
          f"{total_proc / max(total_audio, 1e-9):.3f}; peak RSS {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
