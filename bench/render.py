"""Render cost per caption in Chromium: the phone and the screen views (issue 18).

Usage:
    .venv/bin/python -m bench.render --seconds 20 --rate 10

A real :class:`~captioner.delivery.server.CaptionServer` on 127.0.0.1 publishes a caption stream
on its event loop, as the pipeline does: ``--rate`` committed captions a second,
alternating Russian and English, in utterances of five fragments of 2-5 words, each
fragment preceded by a partial (so the views also replace partials at that rate). Each
view is opened in headless Chromium (the suite's flags), and its handler of every
caption message is timed in the page: the view's own work for the message plus the
style and layout it forces (``document.body.offsetHeight`` right after), which is what
a busy phone pays per caption. Committed captions and partials are reported apart,
median and p99 in milliseconds, with the machine.

The phone runs for ``--seconds`` and so reaches a few hundred captions; ``--long N``
first replays N committed captions to it (the DOM bound of 1000 applies).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench.chromium import CHROMIUM, CHROMIUM_ARGS
from bench.machine import describe
from captioner.delivery.broadcast import Broadcaster
from captioner.delivery.server import CaptionServer
from captioner.events import Caption

WORDS = {
    "en": "water resources in the region keep shrinking so we need shared solutions and new "
          "investment in agriculture across the whole of Central Asia".split(),
    "ru": "водные ресурсы региона сокращаются поэтому нам нужны общие решения и новые "
          "инвестиции в сельское хозяйство всей Центральной Азии".split(),
}

# Wraps the view's caption handler: its time, plus the layout it forces, per message.
INSTRUMENT = """() => {
  const feed = window.captionFeed;
  const inner = feed.handlers.onCaption;
  window.__times = { final: [], partial: [] };
  feed.handlers.onCaption = (msg) => {
    const t0 = performance.now();
    inner(msg);
    void document.body.offsetHeight;
    window.__times[msg.final ? "final" : "partial"].push(performance.now() - t0);
  };
}"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Stream:
    """The caption stream: utterances of fragments, a partial before each commit."""

    def __init__(self, broadcaster: Broadcaster) -> None:
        self.broadcaster = broadcaster
        self.seq = 0
        self.t = 0.0

    def emit(self, n: int) -> None:
        """Publishes fragment n (and its partial) of the stream."""
        lang = "ru" if (n // 5) % 2 else "en"
        utt = f"floor-{n // 5}"
        vocab = WORDS[lang]
        words = [vocab[(n * 3 + i) % len(vocab)] for i in range(2 + n % 4)]
        text = " ".join(words)
        now = time.time_ns()
        self.broadcaster.publish(Caption(id=utt, final=False, lang=lang, text=text + " and",
                                         start_s=self.t, end_s=self.t + 0.5, emitted_ns=now,
                                         revision=n))
        self.seq += 1
        self.broadcaster.publish(Caption(id=utt, final=True, lang=lang, text=text,
                                         start_s=self.t, end_s=self.t + 0.5, emitted_ns=now,
                                         seq=self.seq))
        self.t += 0.5 if n % 5 != 4 else 2.0


async def measure(path: str, seconds: float, rate: float, long: int) -> dict[str, list[float]]:
    from playwright.async_api import async_playwright

    broadcaster = Broadcaster(history_per_track=max(500, long))
    server = CaptionServer(broadcaster, host="127.0.0.1", port=0)
    await server.start()
    stream = Stream(broadcaster)
    n = 0
    for _ in range(long):
        stream.emit(n)
        n += 1
    try:
        async with async_playwright() as pw:
            chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await chromium.new_page(viewport={"width": 1280, "height": 720})
            await page.goto(f"http://127.0.0.1:{server.port}{path}")
            await page.wait_for_function("document.documentElement.dataset.conn === 'live'")
            await page.wait_for_function(
                "(s) => !s || [...document.querySelectorAll('.cap.final')].length > 0",
                arg=long)
            await page.evaluate(INSTRUMENT)
            start = time.monotonic()
            count = int(seconds * rate)
            for i in range(count):
                due = start + i / rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                stream.emit(n)
                n += 1
            last = stream.seq
            await page.wait_for_function(
                "(n) => window.__times.final.length >= n", arg=count, timeout=60_000)
            times = await page.evaluate("window.__times")
            await chromium.close()
            assert stream.seq == last
            return times
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    parser.add_argument("--rate", type=float, default=10.0, help="committed captions a second")
    parser.add_argument("--long", type=int, default=0,
                        help="committed captions replayed to the phone before measuring")
    args = parser.parse_args(argv)
    print(f"machine: {describe()}")
    print(f"Chromium {CHROMIUM}, headless; {args.rate:g} committed captions/s (+ as many "
          f"partials) for {args.seconds:g} s per view")
    print(f"{'view':26} {'kind':8} {'n':>5} {'median ms':>10} {'p99 ms':>8} {'max ms':>8}")
    views = [("/?lang=en", "phone"), ("/screen", "screen")]
    if args.long:
        views.insert(1, ("/?lang=en", f"phone after {args.long}"))
    for path, name in views:
        long = args.long if name.startswith("phone after") else 0
        times = asyncio.run(measure(path, args.seconds, args.rate, long))
        for kind in ("final", "partial"):
            values = times[kind]
            print(f"{name + ' ' + path:26} {kind:8} {len(values):5d} "
                  f"{statistics.median(values):10.3f} {percentile(values, 0.99):8.3f} "
                  f"{max(values):8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
