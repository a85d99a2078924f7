"""Bilingual tracks benchmark: translation latency per caption, booth-fed track latency.

Usage:
    .venv/bin/python -m bench.tracks [--n 40] [--store DIR] [--tiny]
                                     [--recording captioner/data/demo_session.ogg]
                                     [--speed 1] [--skip-translation] [--skip-booth]

(a) Machine translation: conference sentences go through the
:class:`~captioner.routing.mt.MachineTranslation` stage as committed floor fragments (two per
sentence), one sentence at a time, with every Argos package discovered in the model
store (or Argos Translate's own folder) and the glossary of
``configs/cop_side_event.toml``. For each machine caption it prints the latency from
the submission of the fragment that completed the sentence to the caption's emission
(median, p90, max), and the engine's own share. With no package (or ``--tiny``) it uses
the tiny random test package and says so: those figures measure the plumbing only.

(b) Booth-fed track latency: the two-channel demo recording (floor on channel 1, booth
on channel 2) is played in real time through the live pipeline and the track router
(no machine translation). For each committed interpretation caption that reaches a
track, the latency runs from the end of the interpreter's last word (the caption's
word times, stream seconds, put on the wall clock by the ``listening`` status) to the
caption's emission. Floor captions are measured the same way for comparison, and the
booth captions the router held back are counted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.latency import summary
from bench.machine import describe
from bench.translate import SENTENCES
from captioner.config import PROJECT_ROOT, load_config
from captioner.events import Caption, Status
from captioner.routing.argos import (
    ArgosPackage,
    ArgosTranslator,
    discover_packages,
    read_package,
)
from captioner.routing.glossary import Glossary
from captioner.routing.mt import ArgosEngine, MachineTranslation
from captioner.store.models import ModelStore, default_root

DEMO = PROJECT_ROOT / "captioner" / "data" / "demo_session.ogg"
COP = PROJECT_ROOT / "configs" / "cop_side_event.toml"


def _ms(values: list[float]) -> list[float]:
    return [v * 1000 for v in values]


# --- (a) translation latency ------------------------------------------------------------


def _fragments(sentence: str) -> tuple[str, str]:
    words = sentence.split()
    half = max(1, len(words) // 2)
    return " ".join(words[:half]), " ".join(words[half:])


async def _translate_through_stage(engine: ArgosEngine, lang: str, n: int,
                                   glossary: Glossary) -> tuple[list[float], list[float], str]:
    """Latency (s) of each machine caption from the completing submit, engine time (s)."""
    emitted: asyncio.Queue[Caption | Status] = asyncio.Queue()
    latencies: list[float] = []
    sample = ""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mt") as executor:
        stage = MachineTranslation({lang: engine}, executor, emitted.put_nowait, glossary)
        task = asyncio.create_task(stage.run())
        t = 0.0
        sentences = itertools.islice(itertools.cycle(SENTENCES[lang]), n)
        for i, sentence in enumerate(sentences):
            # The last fragment completes the sentence: latency counts from its submit.
            for j, piece in enumerate(p for p in _fragments(sentence) if p):
                submitted = time.perf_counter()
                stage.submit(_floor(piece, lang, t + j, t + j + 1.0, i))
            event = await asyncio.wait_for(emitted.get(), timeout=120)
            latencies.append(time.perf_counter() - submitted)
            if isinstance(event, Status):
                raise RuntimeError(f"translation failed: {event.detail}")
            if i == 1:
                sample = f"{sentence!r}\n       -> {event.text[:120]!r}"
            t += 3.0
        stage.close()
        await task
    return latencies, list(stage.latencies_s), sample


def _floor(text: str, lang: str, start_s: float, end_s: float, n: int) -> Caption:
    return Caption(id=f"floor-{n}", final=True, lang=lang, text=text, start_s=start_s,
                   end_s=end_s, emitted_ns=time.time_ns(), source="floor", input_id="floor")


def bench_translation(pkg: ArgosPackage, n: int, glossary: Glossary, threads: int) -> None:
    t0 = time.perf_counter()
    translator = ArgosTranslator(pkg, intra_threads=threads)
    load_s = time.perf_counter() - t0
    warm_s = translator.warm_up()
    engine = ArgosEngine(translator, glossary)
    lang = pkg.from_code if pkg.from_code in SENTENCES else "en"
    total, engine_s, sample = asyncio.run(_translate_through_stage(engine, lang, n, glossary))
    print(f"\n{translator.name}: {pkg.path} ({pkg.origin})")
    print(f"  load {load_s * 1000:.0f} ms, warm-up {warm_s * 1000:.0f} ms; CPU int8, beam 2, "
          f"intra_threads {threads}; glossary of {len(glossary.terms)} terms")
    print(f"  per caption, submit -> machine caption (ms): {summary(_ms(total))}")
    print(f"  of which the engine (ms):                   {summary(_ms(engine_s))}")
    print(f"  sample: {sample}")


def translation_part(args: argparse.Namespace, glossary: Glossary) -> None:
    print("\n== (a) machine translation through the MachineTranslation stage")
    packages = [] if args.tiny else [p for p in discover_packages(default_root(args.store))
                                     if p.from_code in ("ru", "en")]
    if packages:
        for pkg in packages:
            bench_translation(pkg, args.n, glossary, args.threads)
        return
    from captioner.routing.tiny_argos import build_package_dir

    print("no translation package installed: using the TINY RANDOM test package (1 layer, "
          "d_model 16, random weights).\nIts figures measure the stage's own overhead "
          "(joining, glossary protection, executor hop, CTranslate2 call), NOT a real "
          "model's speed or quality.")
    with tempfile.TemporaryDirectory(prefix="bench-tracks-") as tmp:
        pkg = read_package(build_package_dir(Path(tmp), "en", "ru"), origin="tiny test package")
        bench_translation(pkg, args.n, glossary, args.threads)


# --- (b) booth-fed track latency ---------------------------------------------------------


def booth_part(args: argparse.Namespace, glossary: Glossary) -> None:
    from captioner.inputs.sources import FileSource
    from captioner.recognition.asr import WhisperEngine, choose_placement
    from captioner.room.pipeline import LivePipeline
    from captioner.routing.tracks import TrackRouter

    cfg = load_config()
    placement = choose_placement("auto", "auto", 0)
    engine = WhisperEngine(ModelStore(default_root(args.store)).resolve_whisper(args.model),
                           placement, cfg.asr.languages)
    print(f"\n== (b) booth-fed tracks: {args.recording} at {args.speed:g}x "
          f"(floor channel 1, booth channel 2; no machine translation)")
    print(f"model: {args.model} on {placement.device} ({placement.compute_type}, "
          f"{placement.threads} threads)")
    events: list[Caption | Status] = []
    router = TrackRouter(translate=False)
    held: list[Caption] = []
    route = router.route

    def counting_route(caption: Caption):
        routed = route(caption)
        if caption.source == "interpretation" and caption.final and caption not in routed.publish:
            held.append(caption)
        return routed

    router.route = counting_route  # type: ignore[method-assign]
    pipeline = LivePipeline(
        engine, FileSource(args.recording, channels={"floor": 0, "booth": 1}, speed=args.speed),
        [events.append], sources_label={"floor": "floor", "booth": "interpretation"},
        glossary=glossary, router=router)
    wall0 = time.perf_counter()
    asyncio.run(pipeline.run())
    wall = time.perf_counter() - wall0
    t0 = next(e.emitted_ns for e in events if isinstance(e, Status) and e.state == "listening")
    finals = [e for e in events if isinstance(e, Caption) and e.final and e.words]

    def latency(c: Caption) -> float:
        audio_end_ns = t0 + c.words[-1].end_s / args.speed * 1e9
        return (c.emitted_ns - audio_end_ns) / 1e9

    booth = [c for c in finals if c.source == "interpretation"]
    floor = [c for c in finals if c.source == "floor"]
    print(f"wall {wall:.1f} s; committed captions: {len(floor)} floor, {len(booth)} booth; "
          f"booth commits held back by the router: {len(held)}")
    for c in booth:
        print(f"  booth {c.lang} [{c.start_s:5.1f}-{c.words[-1].end_s:5.1f}] "
              f"+{latency(c):4.2f} s  {c.text[:60]!r}")
    print(f"  booth-fed captions, end of words -> emission (s): "
          f"{summary([latency(c) for c in booth])}")
    for lang in ("ru", "en"):
        print(f"    on the {lang} track: "
              f"{summary([latency(c) for c in booth if c.lang == lang])}")
    print(f"  floor captions, same measure (s):                "
          f"{summary([latency(c) for c in floor])}")
    print(f"  ASR passes {pipeline.stats.passes}, ASR seconds {pipeline.stats.asr_seconds}, "
          f"dropped chunks {pipeline.stats.dropped_chunks}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n", type=int, default=40, help="sentences per package")
    parser.add_argument("--threads", type=int, default=1, help="intra_threads of Argos")
    parser.add_argument("--store", default="", help="model store (default: the usual one)")
    parser.add_argument("--tiny", action="store_true",
                        help="use the tiny random test package even if real ones exist")
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument("--recording", type=Path, default=DEMO)
    parser.add_argument("--speed", type=float, default=1.0, help="1 = real time")
    parser.add_argument("--skip-translation", action="store_true")
    parser.add_argument("--skip-booth", action="store_true")
    args = parser.parse_args(argv)

    print(f"machine: {describe()}")
    glossary = Glossary(load_config(COP).glossary.terms)
    if not args.skip_translation:
        translation_part(args, glossary)
    if not args.skip_booth:
        booth_part(args, glossary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
