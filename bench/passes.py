"""Record the Whisper passes of live runs; replay them under other decoding options.

Usage:
    .venv/bin/python -m bench.passes record passes.npz CLIP [CLIP ...]
    .venv/bin/python -m bench.passes replay passes.npz '{}' '{"no_repeat_ngram_size": 0}'

Two live runs of the same clip differ: each pass's timing decides where the next one
starts, so a decoding option's effect drowns in the host's noise. ``record`` plays
clips in real time through the live pipeline and keeps every pass's audio, prompt and
settings. ``replay`` decodes exactly those passes again, once per variant, variants
interleaved pass by pass so that a busy moment of the host hits them all. It prints
each variant's decoding time, token count, passes over 1 s, and how many passes give
other words than the first variant after the guards (``--diff`` writes them out).

A variant is a JSON object of faster-whisper ``transcribe`` options, plus
``one_window`` (true/false) and ``window_s`` (encoder window, seconds) as in
``captioner.recognition.schedule.LiveParams``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import numpy as np

from bench.common import load_bench_engine
from captioner.events import SAMPLE_RATE
from captioner.inputs.sources import FileSource
from captioner.recognition.asr import collect_segments
from captioner.recognition.guards import clean_segments
from captioner.room.pipeline import LivePipeline


def record(engine, clips: list[Path], out: Path, speed: float) -> int:
    model = engine._model
    original = model.transcribe
    passes: list[tuple[np.ndarray, dict]] = []

    def recording(audio, **options):
        local = model._local
        passes.append((audio.copy(), {
            "options": options, "frames": getattr(local, "frames", None),
            "one_window": getattr(local, "one_window", False)}))
        return original(audio, **options)

    model.transcribe = recording
    try:
        for clip in clips:
            asyncio.run(LivePipeline(engine, FileSource(clip, speed=speed), []).run())
    finally:
        del model.transcribe
    np.savez_compressed(out, meta=np.array(json.dumps([m for _, m in passes])),
                        **{f"audio{i}": audio for i, (audio, _) in enumerate(passes)})
    return len(passes)


def load(path: Path) -> list[tuple[np.ndarray, dict]]:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        return [(data[f"audio{i}"], m) for i, m in enumerate(meta)]


def decode(engine, audio: np.ndarray, meta: dict, variant: dict) -> tuple[float, int, str]:
    """One recorded pass under a variant: seconds, tokens decoded, words kept."""
    model = engine._model
    variant = dict(variant)
    one_window = variant.pop("one_window", meta["one_window"])
    frames = meta["frames"]
    if "window_s" in variant:
        window = variant.pop("window_s")
        frames = int(window * 100) if window < 30 else None
    options = {**meta["options"], **variant}
    model.set_window(frames)
    model.set_one_window(one_window)
    try:
        started = time.perf_counter()
        raw = list(model.transcribe(audio, **options)[0])
        elapsed = time.perf_counter() - started
    finally:
        model.set_window(None)
        model.set_one_window(False)
        model.forget_encoding()
    segments = collect_segments(iter(raw), options["language"])
    words = clean_segments(segments, options.get("initial_prompt") or "",
                           len(audio) / SAMPLE_RATE)
    return elapsed, sum(len(s.tokens) for s in raw), "".join(w.text for w in words).strip()


def replay(engine, passes, variants: list[dict], diff: Path | None) -> None:
    results = [[decode(engine, audio, meta, v) for v in variants] for audio, meta in passes]
    print(f"{len(passes)} recorded passes")
    for k, variant in enumerate(variants):
        times = [r[k][0] for r in results]
        changed = sum(1 for r in results if r[k][2] != r[0][2])
        print(f"  {json.dumps(variant):48s} decoding {sum(times):6.1f} s  "
              f"tokens {sum(r[k][1] for r in results):5d}  over 1 s {sum(t > 1 for t in times):3d}"
              f"  max {max(times):.2f} s  other words than the first: {changed}")
    if diff is not None:
        with diff.open("w", encoding="utf-8") as fh:
            for i, ((audio, _), r) in enumerate(zip(passes, results, strict=True)):
                if len({x[2] for x in r}) > 1:
                    fh.write(f"pass {i} ({len(audio) / SAMPLE_RATE:.1f} s)\n")
                    for k, (elapsed, tokens, text) in enumerate(r):
                        fh.write(f"  [{k}] {elapsed:.2f} s {tokens:3d} tokens  {text}\n")
        print(f"  differing passes written to {diff}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="play clips live and keep every pass")
    rec.add_argument("out", type=Path, help="where to write the passes (.npz)")
    rec.add_argument("clips", nargs="+", type=Path)
    rec.add_argument("--speed", type=float, default=1.0, help="1 = real time")
    rec.add_argument("--model", default="whisper-base")
    rep = sub.add_parser("replay", help="decode recorded passes under each variant")
    rep.add_argument("passes", type=Path, help="a file written by record")
    rep.add_argument("variants", nargs="+", help="JSON objects of options; '{}' = as recorded")
    rep.add_argument("--model", default="whisper-base")
    rep.add_argument("--diff", type=Path, help="write the passes whose words differ here")
    args = parser.parse_args(argv)
    engine = load_bench_engine(args.model)
    if args.command == "record":
        print(f"{record(engine, args.clips, args.out, args.speed)} passes written to {args.out}")
    else:
        try:
            variants = [json.loads(v) for v in args.variants]
        except json.JSONDecodeError as exc:
            raise SystemExit(f"a variant is not JSON: {exc}") from None
        replay(engine, load(args.passes), variants, args.diff)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
