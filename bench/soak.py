"""Soak benchmark: a long live session, watching latency drift and memory growth.

Usage:
    .venv/bin/python -m bench.soak ../shared/audio --minutes 30 [--speed 1]

Builds an alternating Russian/English recording of the requested length from the
clips given, plays it through the live pipeline in real time, and prints, for each
minute of audio: resident memory, committed-caption latency (median and p90) and the
audio queue drops. Memory and latency should stay flat however long it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import calibrate, find_clips, load_bench_engine
from bench.latency import build_bilingual, pct
from captioner.events import Caption, Status
from captioner.inputs.sources import FileSource
from captioner.room.pipeline import LivePipeline


def rss_mb() -> float:
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("paths", nargs="+", help="clips or folders of clips (ru_/en_)")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--model", default="whisper-base")
    args = parser.parse_args(argv)

    engine = load_bench_engine(args.model, f"{args.minutes:g} min at {args.speed}x")
    with tempfile.TemporaryDirectory() as tmp:
        path, _ = build_bilingual(find_clips(args.paths), args.minutes, Path(tmp))
        events: list = []
        # (wall s since start, RSS MB, Whisper seconds so far, passes so far)
        samples: list[tuple[float, float, float, int]] = []
        t0 = time.monotonic()

        def sample(pipeline: LivePipeline) -> None:
            workers = list(pipeline.workers.values())
            samples.append((time.monotonic() - t0, rss_mb(),
                            sum(w.asr_seconds for w in workers),
                            sum(w.passes for w in workers)))

        async def watch(pipeline: LivePipeline) -> None:
            while True:
                sample(pipeline)
                await asyncio.sleep(10)

        async def go() -> LivePipeline:
            pipeline = LivePipeline(engine, FileSource(path, speed=args.speed),
                                    [events.append])
            watcher = asyncio.create_task(watch(pipeline))
            await pipeline.run()
            watcher.cancel()
            sample(pipeline)  # the last, partial minute's passes
            return pipeline

        pipeline = asyncio.run(go())
    listen = next(e.emitted_ns for e in events if isinstance(e, Status)
                  and e.state == "listening")
    per_minute: dict[int, list[float]] = {}
    for e in events:
        if isinstance(e, Caption) and e.final:
            for w in e.words:
                lat = (e.emitted_ns - listen) / 1e9 - w.end_s / args.speed
                per_minute.setdefault(int(w.end_s // 60), []).append(lat)
    def at(wall_s: float) -> tuple[float, float, float, int]:
        return next((s for s in samples if s[0] >= wall_s), samples[-1])

    print(f"{'minute':>6} {'RSS MB':>7} {'committed median':>17} {'p90':>6} {'words':>6} "
          f"{'ASR s/s':>8} {'passes':>7}")
    for minute in sorted(per_minute):
        wall = (minute + 1) * 60 / args.speed
        _, rss, asr, passes = at(wall)
        _, _, asr0, passes0 = at(minute * 60 / args.speed)
        lats = per_minute[minute]
        print(f"{minute:6d} {rss:7.0f} {statistics.median(lats):17.2f} "
              f"{pct(lats, 0.9):6.2f} {len(lats):6d} {(asr - asr0) / 60 * args.speed:8.2f} "
              f"{passes - passes0:7d}")
    first, last = samples[min(6, len(samples) - 1)][1], samples[-1][1]
    print(f"RSS after 1 min {first:.0f} MB, at the end {last:.0f} MB "
          f"({last - first:+.0f} MB); dropped chunks {pipeline.stats.dropped_chunks}")
    print(f"calibration at the end: {calibrate(engine):.3f} s (see the top)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
