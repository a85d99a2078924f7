"""Live latency benchmark: plays clips in real time through the streaming pipeline.

Usage:
    .venv/bin/python -m bench.latency ../shared/audio [--bilingual-minutes 10] [--speed 1]

For partial and committed captions it reports the latency from the end of each word's
audio to the moment the word was first shown (partial) and committed: median, p90, max,
also for the first and second half of each run (drift). It also reports CPU time over
audio time, and the streaming error rate next to the offline error rate of the same
model on the same audio (WER for English, CER for Russian; against the reference where
one is known, else streaming is scored against the offline transcript).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import (
    calibrate,
    error_rate,
    find_clips,
    load_bench_engine,
    normalise,
    reference_units,
)
from captioner.bus.local import LocalBus
from captioner.events import SAMPLE_RATE, Caption, Status
from captioner.inputs.audio import decode_file
from captioner.inputs.sources import FileSource
from captioner.recognition.schedule import LiveParams
from captioner.recognition.streaming import StreamingParams
from captioner.room.room import Room
from captioner.synth import write_wav


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def summary(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (f"median {statistics.median(values):4.2f}  p90 {pct(values, 0.9):4.2f}  "
            f"max {max(values):5.2f}  (n={len(values)})")


def word_latencies(events: list, speed: float) -> tuple[list, list]:
    """(end_s, latency_s) pairs for first display and for commit of every committed word."""
    t0 = next(e.emitted_ns for e in events if isinstance(e, Status) and e.state == "listening")
    shown: dict[str, list] = {}
    for e in events:
        if isinstance(e, Caption):
            shown.setdefault(e.id, []).append(e)
    partial, final = [], []
    for e in events:
        if not (isinstance(e, Caption) and e.final):
            continue
        for w in e.words:
            audio_wall_ns = t0 + w.end_s / speed * 1e9
            final.append((w.end_s, (e.emitted_ns - audio_wall_ns) / 1e9))
            first = e.emitted_ns
            key = normalise(w.text)
            for c in shown[e.id]:
                if c.emitted_ns >= first:
                    break
                if any(normalise(x.text) == key and abs(x.end_s - w.end_s) < 0.6
                       for x in c.words):
                    first = c.emitted_ns
                    break
            partial.append((w.end_s, (first - audio_wall_ns) / 1e9))
    return partial, final


def tuned(settings: list[str], final_window: str) -> tuple[LiveParams, StreamingParams]:
    """LiveParams and StreamingParams with ``KEY=VALUE`` overrides applied."""
    live: dict = {"final_window_s": None if final_window == "short" else int(final_window)}
    policy: dict = {}
    for item in settings:
        key, value = item.split("=", 1)
        if key in LiveParams.__dataclass_fields__:
            live[key] = type(getattr(LiveParams(), key))(float(value))
        elif key in StreamingParams.__dataclass_fields__:
            policy[key] = type(getattr(StreamingParams(), key))(float(value))
        else:
            raise SystemExit(f"--set {key}: not a LiveParams or StreamingParams field")
    return LiveParams(**live), StreamingParams(**policy)


def run_clip(engine, path: Path, speed: float, params: LiveParams = LiveParams(),
             policy: StreamingParams = StreamingParams()) -> tuple[list, float, float, str]:
    """Plays one clip through a room; returns the events as a subscriber of the room's
    bus received them, CPU and wall seconds, and a line on the passes.

    Each event's ``emitted_ns`` is replaced by when the subscriber got it, so the
    latencies include the journal-gate-bus path a viewer's events take.
    """
    events: list = []
    room = Room(engine, FileSource(path, speed=speed), LocalBus("bench"),
                live_params=params, policy_params=policy)
    room.bus.subscribe(lambda published: events.append(
        dataclasses.replace(published.event, emitted_ns=time.time_ns())))
    pipeline = room.pipeline
    cpu0, wall0 = _cpu_s(), time.perf_counter()
    asyncio.run(room.run())
    passes = sum(pipeline.stats.passes.values())
    asr = sum(pipeline.stats.asr_seconds.values())
    line = f"{passes} Whisper passes, {asr / max(passes, 1):.2f} s each on average"
    return events, _cpu_s() - cpu0, time.perf_counter() - wall0, line


def error_summary(scored: list[tuple[str, int, float, float]]) -> list[str]:
    """Streaming error against offline over the clips with references: pooled per
    measure (errors over reference units, so a 4-word clip weighs as 4 words) and the
    mean of the per-clip differences (which short clips swing)."""
    # Where offline gets every word wrong, the reference is written another way
    # (en_vosk_digits: spelt-out digits, which Whisper writes as numerals).
    useless = [r for r in scored if r[3] >= 1.0]
    scored = [r for r in scored if r[3] < 1.0]
    if not scored:
        return []
    lines = [f"left out: {len(useless)} clip(s) whose offline error is 100%"] if useless else []
    for kind in sorted({k for k, *_ in scored}):
        rows = [r for r in scored if r[0] == kind]
        units = sum(n for _, n, _, _ in rows)
        stream = sum(n * s for _, n, s, _ in rows) / units
        offline = sum(n * o for _, n, _, o in rows) / units
        lines.append(f"{kind} pooled over {len(rows)} clips ({units} units): streaming "
                     f"{stream * 100:.1f}%, offline {offline * 100:.1f}% "
                     f"({(stream - offline) * 100:+.1f} points)")
    excess = statistics.mean((s - o) * 100 for _, _, s, o in scored)
    lines.append(f"mean per-clip streaming excess over offline: {excess:+.1f} points "
                 f"({len(scored)} clips)")
    return lines


def offline_transcript(engine, audio: np.ndarray) -> tuple[str, str]:
    """The same model's offline transcript of a clip (greedy, the language identified;
    voice activity filter on clips over 30 s), and its language."""
    segs, lang = engine.transcribe(audio, None, beam_size=1, temperature=0.0,
                                   vad_filter=len(audio) / SAMPLE_RATE > 30)
    return " ".join(s.text for s in segs), lang


def build_bilingual(clips, minutes: float, folder: Path) -> tuple[Path, list]:
    """Alternates Russian and English clips (1 s pauses) up to ``minutes`` long.

    Returns the session's WAV and, per clip played, ``(clip, start_s, end_s, samples)``
    (``bench.switches --bilingual-minutes`` scores each one).
    """
    ru = [c for c in clips if c.lang == "ru"]
    en = [c for c in clips if c.lang == "en"]
    parts, placed, total, i = [], [], 0.0, 0
    pause = np.zeros(SAMPLE_RATE, dtype=np.float32)
    while total < minutes * 60 and ru and en:
        clip = (ru if i % 2 == 0 else en)[(i // 2) % len(ru if i % 2 == 0 else en)]
        audio = decode_file(clip.path)
        placed.append((clip, total, total + len(audio) / SAMPLE_RATE, audio))
        parts += [audio, pause]
        total += len(audio) / SAMPLE_RATE + 1.0
        i += 1
    path = write_wav(folder / f"bilingual_{minutes:g}min.wav", np.concatenate(parts))
    return path, placed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("paths", nargs="+", help="clips or folders of clips")
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument("--speed", type=float, default=1.0, help="1 = real time")
    parser.add_argument("--final-window", choices=["30", "20", "15", "short"], default="15",
                        help="encoder window of final passes (see LiveParams)")
    parser.add_argument("--set", dest="tuning", action="append", default=[],
                        metavar="KEY=VALUE", help="a LiveParams or StreamingParams field, "
                        "e.g. min_step_s=0.4 or trim_after_s=5")
    parser.add_argument("--show-text", action="store_true",
                        help="print the streaming and offline transcripts of each clip")
    parser.add_argument("--bilingual-minutes", type=float, default=0,
                        help="also build and play an alternating ru/en session this long")
    args = parser.parse_args(argv)

    params, policy = tuned(args.tuning, args.final_window)
    engine = load_bench_engine(args.model, f"speed {args.speed}x, final window "
                               f"{args.final_window} {' '.join(args.tuning)}")
    clips = find_clips(args.paths)
    runs: list[tuple[str, Path, str | None, str | None]] = [
        (c.path.name, c.path, c.lang, c.reference) for c in clips]
    tmp = tempfile.TemporaryDirectory()
    if args.bilingual_minutes:
        path, _ = build_bilingual(clips, args.bilingual_minutes, Path(tmp.name))
        runs.append((path.name, path, None, None))
    all_p, all_f = [], []
    # Per clip with a reference: (kind, reference units, streaming rate, offline rate).
    scored: list[tuple[str, int, float, float]] = []
    for name, path, lang, ref in runs:
        audio = decode_file(path)
        dur = len(audio) / SAMPLE_RATE
        events, cpu, wall, passes = run_clip(engine, path, args.speed, params, policy)
        partial, final = word_latencies(events, args.speed)
        half = dur / 2
        finals = [e for e in events if isinstance(e, Caption) and e.final]
        stream_text = " ".join(e.text for e in finals)
        offline_text, off_lang = offline_transcript(engine, audio)
        lang = lang or off_lang
        print(f"\n== {name}: {dur:.1f} s audio, wall {wall:.1f} s, CPU/audio {cpu / dur:.2f}")
        print(f"  {passes}")
        print(f"  partial   {summary([x for _, x in partial])}")
        print(f"  committed {summary([x for _, x in final])}")
        print(f"  committed 1st half {summary([x for t, x in final if t < half])}")
        print(f"  committed 2nd half {summary([x for t, x in final if t >= half])}")
        if ref:
            kind, s_err = error_rate(ref, stream_text, lang)
            _, o_err = error_rate(ref, offline_text, lang)
            print(f"  {kind} vs reference: streaming {s_err * 100:.1f}%, "
                  f"offline {o_err * 100:.1f}%")
            scored.append((kind, reference_units(ref, lang), s_err, o_err))
        elif lang in ("ru", "en") and name.startswith(("ru_", "en_")):
            kind, d = error_rate(offline_text, stream_text, lang)
            print(f"  {kind} of streaming against offline transcript: {d * 100:.1f}%")
        if args.show_text:
            print(f"  streaming: {stream_text}\n  offline:   {offline_text}")
        all_p += [x for _, x in partial]
        all_f += [x for _, x in final]
    print("\n== all clips")
    print(f"  partial   {summary(all_p)}")
    print(f"  committed {summary(all_f)}")
    for line in error_summary(scored):
        print(f"  {line}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS {peak:.0f} MB")
    print(f"  calibration at the end: {calibrate(engine):.3f} s (see the top)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
