"""The live loop on a simulated clock: the same passes every run, so policies compare.

Usage:
    .venv/bin/python -m bench.simulate ../shared/audio [--set KEY=VALUE ...] [--repeat 2]

``bench.latency`` plays clips in real time, so which stretch of audio each pass decodes
follows the host's speed, and on a shared host two runs of the same code differ by
several points of streaming error: more than most policy changes move it. Here the
audio arrives on a simulated clock, and each Whisper pass is taken to last a fixed
function of what it decodes (``CostModel``). The live worker, its voice activity
detection, the guards and the streaming policy run unchanged, and Whisper runs for
real; only time is simulated. The same code then gives the same passes and the same
text in every run (``--repeat`` checks it: each run prints a digest of its committed
text), so one run says what a change to the policy does to the error.

Latencies printed here are under the cost model: they show how a change moves latency
at a fixed speed, not what a host achieves (that is ``bench.latency``'s job). Each run
also prints the pass times it measured next to the modelled ones, to show how far the
model is from this host.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import inspect
import statistics
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field

import numpy as np

from bench.common import error_rate, find_clips, load_bench_engine, reference_units
from bench.latency import error_summary, offline_transcript, summary, tuned, word_latencies
from captioner.events import SAMPLE_RATE, AudioChunk, Caption, Status
from captioner.inputs.audio import decode_file
from captioner.inputs.sources import BLOCK_S
from captioner.recognition.live import InputWorker
from captioner.recognition.schedule import LiveParams
from captioner.recognition.streaming import StreamingParams


@dataclass(frozen=True)
class CostModel:
    """Modelled seconds of one Whisper pass: ``base_s`` plus ``per_audio_s`` for each
    second of audio decoded (``final_base_s`` and ``final_per_audio_s`` for the final
    pass of an utterance, which encodes a 15 s window); identifying the language adds
    ``language_s`` (the encoder's output is reused for decoding). A pass decoded in both
    languages (the language duel) pays ``decoder_share`` of the pass again for the
    second decoding: its encoder output is reused, and the encoder is about a third of
    a short live pass (``captioner.recognition.asr``).

    The defaults are fitted to 356 passes measured on the 2-core benchmark host with
    Whisper base int8 (bench/RESULTS.md); each run prints the fit for its own host.
    """

    base_s: float = 0.40
    per_audio_s: float = 0.05
    final_base_s: float = 0.40
    final_per_audio_s: float = 0.08
    language_s: float = 0.02
    decoder_share: float = 0.67

    def seconds(self, audio_s: float, final: bool, identify: bool, decodes: int = 1) -> float:
        base, per_s = ((self.final_base_s, self.final_per_audio_s) if final
                       else (self.base_s, self.per_audio_s))
        one = base + per_s * audio_s
        return (one * (1 + self.decoder_share * (decodes - 1))
                + (self.language_s if identify else 0.0))


@dataclass
class SimClock:
    now_s: float = 0.0

    def seconds(self) -> float:
        return self.now_s

    def ns(self) -> int:
        return int(round(self.now_s * 1e9))


@dataclass(frozen=True)
class PassTime:
    audio_s: float
    final: bool
    measured_s: float
    modelled_s: float


@dataclass
class SimExecutor(Executor):
    """Runs each call at once in the caller's thread; with a cost model, a call to the
    worker's ``_decode`` moves the clock on by its modelled time."""

    clock: SimClock
    cost: CostModel | None = None
    passes: list[PassTime] = field(default_factory=list)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        started = time.perf_counter()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the awaiting coroutine, as a pool would
            future.set_exception(exc)
        measured = time.perf_counter() - started
        if self.cost is not None:
            call = inspect.signature(fn).bind(*args, **kwargs).arguments
            audio_s = len(call["audio"]) / SAMPLE_RATE
            final = bool(call.get("final", False))
            result = future.result() if future.exception() is None else None
            modelled = self.cost.seconds(audio_s, final, identify=call["lang"] is None,
                                         decodes=getattr(result, "decodes", 1))
            self.passes.append(PassTime(audio_s, final, measured, modelled))
            self.clock.now_s += modelled
        return future


def blocks(audio: np.ndarray) -> list[AudioChunk]:
    """The audio as the sources deliver it: 0.1 s chunks, the last padded."""
    size = int(BLOCK_S * SAMPLE_RATE)
    out = []
    for pos in range(0, len(audio), size):
        block = audio[pos:pos + size]
        if len(block) < size:
            block = np.pad(block, (0, size - len(block)))
        out.append(AudioChunk("floor", block, pos / SAMPLE_RATE, 0))
    return out


async def simulate(engine, audio: np.ndarray, params: LiveParams, policy: StreamingParams,
                   cost: CostModel, speed: float = 1.0,
                   language_hint: Callable[[float], str | None] | None = None
                   ) -> tuple[list, list[PassTime]]:
    """Plays ``audio`` through one live worker on a simulated clock, ``speed`` times
    faster than real time. ``language_hint`` gives the speaker's declared language at
    a simulated time (what the operator has set then), for the worker's hint.

    Returns the events (a listening status at time 0 first, as the file source sends)
    and the time of every pass. As in the live loop, audio that arrives while a pass
    runs is taken in all at once when it ends; when the worker is idle, the clock
    moves on to the next block.
    """
    clock = SimClock()
    asr = SimExecutor(clock, cost)
    events: list = [Status("listening", 0)]
    worker = InputWorker("floor", engine, asr, SimExecutor(clock), events.append,
                         params=params, policy_params=policy, timer=clock.seconds,
                         clock_ns=clock.ns,
                         language_hint=(lambda: language_hint(clock.now_s)) if language_hint
                         else (lambda: None))
    loop = asyncio.get_running_loop()
    chunks = blocks(audio)
    i = 0
    while i < len(chunks):
        clock.now_s = max(clock.now_s, chunks[i].end_s / speed)
        batch = []
        while i < len(chunks) and chunks[i].end_s / speed <= clock.now_s + 1e-9:
            batch.append(chunks[i])
            i += 1
        await worker.step(loop, batch)
    await worker.finish(loop)
    return events, asr.passes


def fit(rows: list[PassTime]) -> str:
    """The measured pass times as base + per second of audio (least squares), to set
    ``--cost`` for this host."""
    if len(rows) < 3 or len({round(p.audio_s, 1) for p in rows}) < 2:
        return "too few passes to fit"
    per_s, base = np.polyfit([p.audio_s for p in rows], [p.measured_s for p in rows], 1)
    return f"measured fits {base:.2f} s + {per_s:.3f} s per audio second"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class Tally:
    """What the runs under one cost model gave, over the clips (first run of each)."""

    scored: list[tuple[str, int, float, float]] = field(default_factory=list)
    against_offline: list[float] = field(default_factory=list)
    partial: list[float] = field(default_factory=list)
    final: list[float] = field(default_factory=list)
    passes: list[PassTime] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("paths", nargs="+", help="clips or folders of clips")
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument("--set", dest="tuning", action="append", default=[],
                        metavar="KEY=VALUE", help="a LiveParams or StreamingParams field, "
                        "e.g. disputed_context_s=0")
    parser.add_argument("--cost", default="",
                        metavar="BASE,PER_S,FINAL_BASE,FINAL_PER_S,LANGUAGE",
                        help="the cost model in seconds (default: CostModel's)")
    parser.add_argument("--scales", default="1", metavar="X,Y,...",
                        help="run under the cost model times each of these: a slower or "
                        "faster host gives other passes, so a policy is best judged "
                        "over a few (e.g. 0.8,1,1.2)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="audio arrives this many times faster than real time")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every clip this many times (the digests should match)")
    parser.add_argument("--show-text", action="store_true",
                        help="print the streaming and offline transcripts of each clip")
    args = parser.parse_args(argv)

    params, policy = tuned(args.tuning, "15")
    cost = CostModel(*(float(x) for x in args.cost.split(","))) if args.cost else CostModel()
    scales = [float(x) for x in args.scales.split(",")]
    engine = load_bench_engine(args.model, f"simulated clock at {args.speed:g}x, {cost} "
                              f"x {args.scales} {' '.join(args.tuning)}")
    tallies = {scale: Tally() for scale in scales}
    unsteady = []
    for clip in find_clips(args.paths):
        audio = decode_file(clip.path)
        offline_text, offline_lang = offline_transcript(engine, audio)
        lang = clip.lang or offline_lang
        for scale, tally in tallies.items():
            model = CostModel(*(getattr(cost, f) * scale for f in CostModel.__dataclass_fields__))
            runs = set()
            for run in range(args.repeat):
                events, passes = asyncio.run(
                    simulate(engine, audio, params, policy, model, args.speed))
                partial, final = word_latencies(events, args.speed)
                text = " ".join(e.text for e in events if isinstance(e, Caption) and e.final)
                runs.add(digest(text))
                print(f"\n== {clip.path.name} (cost x{scale:g}, run {run + 1}): "
                      f"{len(audio) / SAMPLE_RATE:.1f} s, {len(passes)} passes, "
                      f"digest {digest(text)}")
                print(f"  partial   {summary([x for _, x in partial])}")
                print(f"  committed {summary([x for _, x in final])}")
                if clip.reference:
                    kind, s_err = error_rate(clip.reference, text, lang)
                    _, o_err = error_rate(clip.reference, offline_text, lang)
                    print(f"  {kind} vs reference: streaming {s_err * 100:.1f}%, "
                          f"offline {o_err * 100:.1f}%")
                else:
                    kind, d = error_rate(offline_text, text, lang)
                    print(f"  {kind} of streaming against offline transcript: {d * 100:.1f}%")
                if args.show_text:
                    print(f"  streaming: {text}\n  offline:   {offline_text}")
                if run:
                    continue
                if clip.reference:
                    tally.scored.append((kind, reference_units(clip.reference, lang),
                                         s_err, o_err))
                else:
                    tally.against_offline.append(d)
                tally.partial += [x for _, x in partial]
                tally.final += [x for _, x in final]
                tally.passes += passes
                tally.digests.append(digest(text))
            if len(runs) > 1:
                unsteady.append(f"{clip.path.name} (x{scale:g})")
    for scale, tally in tallies.items():
        print(f"\n== all clips, cost x{scale:g} (first run of each), digest "
              f"{digest(' '.join(tally.digests))}")
        print(f"  partial   {summary(tally.partial)} (under the cost model)")
        print(f"  committed {summary(tally.final)} (under the cost model)")
        for line in error_summary(tally.scored):
            print(f"  {line}")
        if tally.against_offline:
            print(f"  mean error of streaming against offline transcript, clips without a "
                  f"reference: {statistics.mean(tally.against_offline) * 100:.1f}% "
                  f"({len(tally.against_offline)} clips)")
        for final in (False, True):
            rows = [p for p in tally.passes if p.final is final]
            if rows:
                print(f"  {'final' if final else 'provisional'} passes: {len(rows)}, "
                      f"measured {statistics.mean(p.measured_s for p in rows):.2f} s on "
                      f"average, modelled {statistics.mean(p.modelled_s for p in rows):.2f} "
                      f"s; {fit(rows)}")
    if len(scales) > 1:
        scored = [row for tally in tallies.values() for row in tally.scored]
        print(f"\n== all cost models together ({len(scales)} runs of each clip)")
        for line in error_summary(scored):
            print(f"  {line}")
    if args.repeat > 1:
        print(f"\nclips whose runs differ: {', '.join(unsteady) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
