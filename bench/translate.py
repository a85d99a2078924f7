"""Translation latency benchmark: how long one caption takes to translate.

Usage:
    .venv/bin/python -m bench.translate [--n 100] [--beam-size 2] [--threads 0]
                                        [--device cpu] [--tiny]

Translates N conference sentences one caption at a time with every Argos package that
is discovered (model store and Argos Translate's own folder) and prints the load and
warm-up time and the per-caption latency (median, p90, max), then the time per
sentence when the same sentences go as batches of 8. With no package installed (or
with --tiny) it builds the tiny random test package and says so: those figures
measure the plumbing, not a real model.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.machine import describe
from captioner.routing.argos import (
    ArgosPackage,
    ArgosTranslator,
    discover_packages,
    read_package,
)
from captioner.store.models import default_root

SENTENCES = {
    "en": (
        "Good afternoon, ladies and gentlemen.",
        "Today we will discuss climate finance for Central Asia and the role of "
        "development banks.",
        "Water resources in the region are shrinking, so we need shared solutions.",
        "Thank you for your attention.",
        "The next speaker represents the Ministry of Energy of Kazakhstan.",
        "In 2023 the programme reached fourteen countries and more than two hundred cities.",
        "Could the interpreters confirm that they can hear us?",
        "Emissions fell by three and a half percent, which is still not enough to meet "
        "the targets we agreed in Paris.",
        "Let me summarise the three main points of the report before we take questions.",
        "Is there anyone online who would like to ask a question?",
        "Yes.",
        "We will be back after a fifteen-minute coffee break.",
    ),
    "ru": (
        "Добрый день, уважаемые коллеги.",
        "Сегодня мы обсуждаем изменение климата в Центральной Азии и сотрудничество "
        "между нашими странами.",
        "Водные ресурсы региона сокращаются, поэтому нам нужны общие решения.",
        "Спасибо за внимание.",
        "Следующий докладчик представляет Министерство энергетики Узбекистана.",
        "В прошлом году программа охватила четырнадцать стран и более двухсот городов.",
        "Пожалуйста, выключайте микрофоны, когда не выступаете.",
        "Выбросы сократились на три с половиной процента, но этого недостаточно, чтобы "
        "выполнить обязательства, принятые в Париже.",
        "Позвольте подвести итоги трёх главных пунктов доклада, прежде чем мы перейдём к "
        "вопросам.",
        "Есть ли кто-нибудь онлайн, кто хотел бы задать вопрос?",
        "Да.",
        "Мы вернёмся после пятнадцатиминутного перерыва на кофе.",
    ),
}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f}"


def bench_package(pkg: ArgosPackage, n: int, args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    translator = ArgosTranslator(pkg, device=args.device, intra_threads=args.threads,
                                 beam_size=args.beam_size)
    load_s = time.perf_counter() - t0
    warm_s = translator.warm_up()
    sentences = list(itertools.islice(
        itertools.cycle(SENTENCES.get(pkg.from_code, SENTENCES["en"])), n))
    times = []
    for sentence in sentences:
        start = time.perf_counter()
        translator.translate([sentence])
        times.append(time.perf_counter() - start)
    arr = np.array(times)
    batch_start = time.perf_counter()
    for i in range(0, n, 8):
        translator.translate(sentences[i:i + 8])
    per_batched = (time.perf_counter() - batch_start) / n
    sample_src = sentences[1]
    sample = translator.translate([sample_src])[0]
    print(f"\n{translator.name}: {pkg.path} ({pkg.origin})")
    print(f"  load {load_s * 1000:.0f} ms, warm-up {warm_s * 1000:.0f} ms; device {args.device}, "
          f"beam {args.beam_size}, intra_threads {args.threads or 'default'}")
    print(f"  per caption over {n} sentences (ms): median {_ms(float(np.median(arr)))}  "
          f"p90 {_ms(float(np.percentile(arr, 90)))}  max {_ms(float(arr.max()))}  "
          f"mean {_ms(float(arr.mean()))}")
    print(f"  batches of 8: {_ms(per_batched)} ms per sentence")
    more = "..." if len(sample) > 120 else ""
    print(f"  sample: {sample_src!r}\n       -> {sample[:120]!r}{more}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n", type=int, default=100, help="sentences per package")
    parser.add_argument("--beam-size", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1,
                        help="intra_threads per translation (0: CTranslate2's default)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--store", default="", help="model store (default: the usual one)")
    parser.add_argument("--tiny", action="store_true",
                        help="benchmark the tiny random test package even if real ones exist")
    args = parser.parse_args(argv)

    print(f"machine: {describe()}")
    packages = [] if args.tiny else discover_packages(default_root(args.store))
    if packages:
        for pkg in packages:
            bench_package(pkg, args.n, args)
        return 0

    from captioner.routing.tiny_argos import build_package_dir

    print("no translation package installed: using the TINY RANDOM test package "
          "(1 layer, d_model 16, random weights).\nIts figures measure the engine's own "
          "overhead (tokenising, splitting, batching, CTranslate2 calls), NOT a real "
          "model's speed or quality.")
    with tempfile.TemporaryDirectory(prefix="bench-translate-") as tmp:
        pkg = read_package(build_package_dir(Path(tmp), "en", "ru"), origin="tiny test package")
        bench_package(pkg, args.n, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
