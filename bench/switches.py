"""Language switches as on a panel: is every utterance captioned, and in its own language?

Usage:
    .venv/bin/python -m bench.switches ../shared/audio [--utterances 24] [--seed 1]
    .venv/bin/python -m bench.switches ../shared/audio --simulated   # repeatable, faster
    .venv/bin/python -m bench.switches ../shared/audio --simulated --seed 1,2,3
    .venv/bin/python -m bench.switches ../shared/audio --hints       # the speaker's language

Builds a session from the clips that have references (and a few synthesised sentences
with ``--synth``): Russian and English alternate, so the language changes at every
utterance; pauses between them are drawn from 0.5-2 s and each clip is levelled to an
RMS drawn from -35 to -15 dBFS, as speakers at one microphone differ. The session is
played through the live pipeline in real time (or on ``bench.simulate``'s clock) and
transcribed offline the way ``captioner transcribe`` does, as a whole and clip by clip.

Per utterance it prints whether anything was committed in it at all, whether the
committed text is in its language, the live and offline error against the reference
(WER for English, CER for Russian), and the commit latency of its words, split into the
first 3 s after the change of language and the rest, and again by when they were
committed: while the speaker went on (opening words and the rest) or once the speaker
had stopped (the final pass). An utterance is *lost* when live commits none of its words
while offline reads it alone. ``--seed 1,2,3`` plays one panel per seed and ends with
the figures over all of them: one panel's error moves by a point between runs of the
same code, as a changed pass schedule gives a word to a misreading or takes it away.

With ``--hints`` (on the simulated clock) the live pipeline plays the session three
times, with the language hint an operator's choice of speaker gives: none; each
utterance's own speaker, declared in its language and set as it begins; and one
Russian speaker throughout, so that every English utterance is that speaker switching
(or quoting): the per-utterance language accuracy of each.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.common import error_rate, find_clips, load_bench_engine, reference_units
from bench.latency import build_bilingual, pct, run_clip, tuned, word_latencies
from captioner.events import SAMPLE_RATE, Caption, Word
from captioner.inputs.audio import decode_file
from captioner.synth import speak, write_wav

OPENING_S = 3.0  # "the first seconds after a change", where live loses most

# A word committed this long after its clip's end was committed once the speaker had
# stopped, by the utterance's final pass: the voice activity detector ends an utterance
# after 0.5 s of silence (VadParams.min_silence_s), and a clip ends with its speech.
STOPPED_S = 0.45

SYNTH = (
    ("ru", "Добрый день, уважаемые коллеги. Сегодня мы обсуждаем изменение климата в "
           "Центральной Азии."),
    ("en", "Thank you, Minister. The development bank will support new projects on "
           "water and energy."),
    ("ru", "Водные ресурсы региона сокращаются, поэтому нам нужны общие решения."),
    ("en", "We need shared solutions and new investment in agriculture."),
)


@dataclass(frozen=True)
class Utterance:
    """One clip in the session: where it lies, at what level, and what was said."""

    name: str
    lang: str
    reference: str
    start_s: float
    end_s: float
    level_dbfs: float


@dataclass(frozen=True)
class Commit:
    """When one committed word came: ``latency_s`` after its end; whether it ends in the
    first ``OPENING_S`` after the change of language; whether the speaker had stopped."""

    latency_s: float
    opening: bool
    stopped: bool


@dataclass
class Scored:
    """What live and offline made of one utterance."""

    utt: Utterance
    live_text: str = ""
    live_lang: str | None = None
    whole_text: str = ""
    alone_text: str = ""
    reference: str = ""  # the clip's, else its offline transcript alone (see score)
    live_err: float = 1.0
    whole_err: float = 1.0
    alone_err: float = 1.0
    commits: list[Commit] = field(default_factory=list)

    @property
    def opening_latency(self) -> list[float]:
        return [c.latency_s for c in self.commits if c.opening]

    @property
    def rest_latency(self) -> list[float]:
        return [c.latency_s for c in self.commits if not c.opening]

    @property
    def captioned(self) -> bool:
        return bool(self.live_text.strip())

    @property
    def lost(self) -> bool:
        return not self.captioned and self.alone_err < 1.0


def level(audio: np.ndarray, dbfs: float) -> np.ndarray:
    """``audio`` scaled to an RMS of ``dbfs`` (clipped to full scale)."""
    rms = _rms(audio)
    if rms <= 0:
        return audio
    return np.clip(audio * (10 ** (dbfs / 20) / rms), -1.0, 1.0).astype(np.float32)


def alternate(clips: Sequence, count: int, rng: random.Random) -> list:
    """``count`` clips, Russian and English in turn, each language's clips shuffled and
    reused in turn when there are fewer than needed."""
    by_lang = {lang: [c for c in clips if c.lang == lang] for lang in ("ru", "en")}
    if not all(by_lang.values()):
        raise SystemExit("switches: needs clips with references in both ru and en")
    for pool in by_lang.values():
        rng.shuffle(pool)
    order = []
    for i in range(count):
        pool = by_lang["ru" if i % 2 == 0 else "en"]
        order.append(pool[(i // 2) % len(pool)])
    return order


def build_session(clips: Sequence, count: int, seed: int, folder: Path,
                  pause_s: tuple[float, float] = (0.5, 2.0),
                  level_dbfs: tuple[float, float] = (-35.0, -15.0)
                  ) -> tuple[Path, list[Utterance], list[np.ndarray]]:
    """Writes the session WAV; returns it, its utterances and each clip's samples."""
    rng = random.Random(seed)
    parts = [np.zeros(SAMPLE_RATE, dtype=np.float32)]  # the stream starts before anyone
    utterances, alone = [], []
    at_s = 1.0
    for clip in alternate(clips, count, rng):
        dbfs = rng.uniform(*level_dbfs)
        audio = level(decode_file(clip.path), dbfs)
        utterances.append(Utterance(clip.path.name, clip.lang, clip.reference, at_s,
                                    at_s + len(audio) / SAMPLE_RATE, dbfs))
        alone.append(audio)
        pause = rng.uniform(*pause_s)
        parts += [audio, np.zeros(int(pause * SAMPLE_RATE), dtype=np.float32)]
        at_s += len(audio) / SAMPLE_RATE + int(pause * SAMPLE_RATE) / SAMPLE_RATE
    path = write_wav(folder / f"switches_{count}_{seed}.wav", np.concatenate(parts))
    return path, utterances, alone


# Whisper stretches the first word after a silence back towards the window's start
# (by up to a second in the live passes: "Neural" at 3.88-5.06 s for a clip starting at
# 4.83 s); a word's end is where it was heard.
WORD_ANCHOR_S = 0.3


def bilingual_session(clips: Sequence, minutes: float, folder: Path
                      ) -> tuple[Path, list[Utterance], list[np.ndarray]]:
    """``bench.latency --bilingual-minutes``'s session (every clip, with or without a
    reference, at its own level, Russian and English in turn with 1 s pauses), with
    each clip's place, as :func:`build_session` returns it."""
    path, placed = build_bilingual(clips, minutes, folder)
    utterances = [Utterance(clip.path.name, clip.lang, clip.reference or "", start_s, end_s,
                            rms_dbfs(audio)) for clip, start_s, end_s, audio in placed]
    return path, utterances, [audio for *_, audio in placed]


def _rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio)))) if len(audio) else 0.0


def rms_dbfs(audio: np.ndarray) -> float:
    """The level :func:`level` sets, measured."""
    rms = _rms(audio)
    return 20 * np.log10(rms) if rms > 0 else float("-inf")


def owner(utterances: Sequence[Utterance], word: Word) -> int | None:
    """The utterance a word was heard in: the one its anchor (``WORD_ANCHOR_S`` before
    its end, or its start if later) falls in, else the one it ends nearest after (a
    word's times can stretch into the pause)."""
    at = max(word.start_s, word.end_s - WORD_ANCHOR_S)
    for i, utt in enumerate(utterances):
        if utt.start_s - 0.3 <= at <= utt.end_s + 0.3:
            return i
    before = [i for i, utt in enumerate(utterances) if utt.start_s <= at]
    return before[-1] if before else None


def assign(utterances: Sequence[Utterance], words: Sequence[tuple[Word, str]]
           ) -> list[list[tuple[Word, str]]]:
    """(word, language) pairs grouped by the utterance they belong to."""
    out: list[list[tuple[Word, str]]] = [[] for _ in utterances]
    for word, lang in words:
        i = owner(utterances, word)
        if i is not None:
            out[i].append((word, lang))
    return out


def majority(pairs: Sequence[tuple[Word, str]]) -> str | None:
    langs = [lang for _, lang in pairs]
    return max(set(langs), key=langs.count) if langs else None


def text_of(pairs: Sequence[tuple[Word, str]]) -> str:
    return "".join(w.text for w, _ in pairs).strip()


def offline(engine, audio: np.ndarray) -> list[tuple[Word, str]]:
    """``captioner transcribe``'s words (span by span, language identified per span)."""
    from captioner.recognition.transcribe import transcribe_audio

    segments, _ = transcribe_audio(engine, audio, None, beam_size=5)
    return [(w, seg.lang) for seg in segments for w in seg.words]


def score(utterances: Sequence[Utterance], events: list, speed: float,
          whole: list[tuple[Word, str]], alone: list[str]) -> list[Scored]:
    """Scores live and offline per utterance."""
    committed = [(w, e.lang) for e in events
                 if isinstance(e, Caption) and e.final and e.source == "floor" for w in e.words]
    live = assign(utterances, committed)
    off = assign(utterances, whole)
    _, latencies = word_latencies(events, speed)
    rows = []
    for i, utt in enumerate(utterances):
        row = Scored(utt, live_text=text_of(live[i]), live_lang=majority(live[i]),
                     whole_text=text_of(off[i]), alone_text=alone[i])
        # A clip without a reference (the lectures of bench.latency's session) is scored
        # against what offline makes of it alone.
        row.reference = utt.reference or row.alone_text
        _, row.live_err = error_rate(row.reference, row.live_text, utt.lang)
        _, row.whole_err = error_rate(row.reference, row.whole_text, utt.lang)
        _, row.alone_err = error_rate(row.reference, row.alone_text, utt.lang)
        for end_s, latency in latencies:
            if utt.start_s - 0.3 <= end_s <= utt.end_s + 0.3:
                row.commits.append(Commit(
                    latency, opening=end_s - utt.start_s <= OPENING_S,
                    stopped=end_s + latency * speed >= utt.end_s + STOPPED_S))
        rows.append(row)
    return rows


def pooled(rows: Sequence[Scored], attr: str) -> float:
    units = sum(reference_units(r.reference, r.utt.lang) for r in rows)
    return sum(reference_units(r.reference, r.utt.lang) * getattr(r, attr)
               for r in rows) / max(units, 1)


def scored(rows: Sequence[Scored], lang: str) -> list[Scored]:
    """A language's utterances that count in the scores: those offline reads alone (see
    :func:`report`)."""
    return [r for r in rows if r.utt.lang == lang and r.alone_err < 1.0]


def excess(rows: Sequence[Scored]) -> float:
    """Points of live error over ``transcribe`` of the whole session, pooled."""
    return (pooled(rows, "live_err") - pooled(rows, "whole_err")) * 100


def spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values):.2f} / {pct(values, 0.9):.2f} s (n={len(values)})"


def report(rows: Sequence[Scored]) -> list[str]:
    lines = ["", "| # | clip | lang | level | captioned | language | live | whole | alone |",
             "|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows, 1):
        lines.append(
            f"| {i} | {r.utt.name}{'' if r.utt.reference else ' (vs alone)'} | "
            f"{r.utt.lang} | {r.utt.level_dbfs:.0f} dBFS | "
            f"{'yes' if r.captioned else ('**LOST**' if r.lost else 'no')} | "
            f"{r.live_lang or '-'} | {r.live_err * 100:.1f}% | {r.whole_err * 100:.1f}% | "
            f"{r.alone_err * 100:.1f}% |")
    lines.append("")
    # Where offline gets every word of the clip alone wrong, the reference is written
    # another way (en_vosk_digits: spelt-out digits, which Whisper writes as numerals).
    useless = sorted({r.utt.name for r in rows if r.alone_err >= 1.0})
    if useless:
        lines.append(f"left out of the scores: {', '.join(useless)} (offline reads it alone "
                     "100% wrong)")
    for lang, kind in (("ru", "CER"), ("en", "WER")):
        mine = scored(rows, lang)
        if not mine:
            continue
        right = sum(r.live_lang == lang for r in mine)
        lines.append(
            f"{lang}: {len(mine)} utterances, {sum(r.lost for r in mine)} lost, "
            f"{sum(not r.captioned for r in mine)} uncaptioned, language right in "
            f"{right}/{len(mine)}; pooled {kind} live {pooled(mine, 'live_err') * 100:.1f}%, "
            f"transcribe whole {pooled(mine, 'whole_err') * 100:.1f}%, each clip alone "
            f"{pooled(mine, 'alone_err') * 100:.1f}% (live - whole {excess(mine):+.1f} points)")
    lines += latency_lines(rows)
    return lines


def latency_lines(rows: Sequence[Scored]) -> list[str]:
    """The committed latency of the rows' words: all, split by where they were heard, and
    by when they were committed."""
    opening = [x for r in rows for x in r.opening_latency]
    rest = [x for r in rows for x in r.rest_latency]
    return [f"committed latency median / p90: all {spread(opening + rest)}; first "
            f"{OPENING_S:g} s after a change {spread(opening)}; the rest {spread(rest)}",
            commit_times(rows)]


def commit_times(rows: Sequence[Scored]) -> str:
    """The committed latency by when the words came, and how many of the words above the
    overall p90 each kind holds: what sets the p90."""
    commits = [c for r in rows for c in r.commits]
    if not commits:
        return "by when committed: n/a"
    p90 = pct([c.latency_s for c in commits], 0.9)
    kinds = (("opening words while the speaker went on", lambda c: c.opening and not c.stopped),
             ("the rest while the speaker went on", lambda c: not c.opening and not c.stopped),
             ("after the speaker stopped", lambda c: c.stopped))
    parts = []
    for name, kind in kinds:
        mine = [c.latency_s for c in commits if kind(c)]
        parts.append(f"{name} {spread(mine)}, {sum(x > p90 for x in mine)} above the p90")
    return "by when committed: " + "; ".join(parts)


def over_seeds(panels: Sequence[tuple[int, Sequence[Scored]]]) -> list[str]:
    """The figures of several panels together: each language's excess over offline per
    seed and on the mean, and the latency of all their words."""
    lines = ["", f"over seeds {', '.join(str(seed) for seed, _ in panels)}:"]
    for lang in ("ru", "en"):
        points = [excess(scored(rows, lang)) for _, rows in panels]
        lines.append(f"{lang}: live - whole {' / '.join(f'{x:+.1f}' for x in points)} points, "
                     f"mean {statistics.mean(points):+.1f}")
    rows = [r for _, panel in panels for r in panel]
    counted = [r for lang in ("ru", "en") for r in scored(rows, lang)]
    right = sum(r.live_lang == r.utt.lang for r in counted)
    lines.append(f"lost {sum(r.lost for r in rows)}; language right in {right}/{len(counted)}")
    return lines + latency_lines(rows)


#: The ``--hints`` runs: name -> the hint at a time, given the session's utterances.
HINTS = {
    "no hint": lambda utterances: None,
    "each speaker's language": lambda utterances: lambda now_s: next(
        (u.lang for u in reversed(utterances) if u.start_s <= now_s), None),
    "one Russian speaker": lambda utterances: lambda now_s: "ru",
}


def hint_report(name: str, rows: Sequence[Scored]) -> str:
    """One line: the language right per utterance, per language and by length."""
    rows = [r for r in rows if r.alone_err < 1.0]
    parts = []
    for lang in ("ru", "en"):
        mine = [r for r in rows if r.utt.lang == lang]
        short = [r for r in mine if r.utt.end_s - r.utt.start_s < 3.0]
        parts.append(f"{lang} {sum(r.live_lang == lang for r in mine)}/{len(mine)}"
                     f" (under 3 s: {sum(r.live_lang == lang for r in short)}/{len(short)})")
    errs = {lang: pooled([r for r in rows if r.utt.lang == lang], "live_err") * 100
            for lang in ("ru", "en")}
    lost = sum(r.lost for r in rows)
    wrong = ", ".join(f"{r.utt.name} ({r.utt.end_s - r.utt.start_s:.1f} s, as "
                      f"{r.live_lang or 'nothing'})" for r in rows if r.live_lang != r.utt.lang)
    opening = [x for r in rows for x in r.opening_latency]
    rest = [x for r in rows for x in r.rest_latency]
    return (f"| {name} | {' · '.join(parts)} | {wrong or 'none'} | {lost} | "
            f"{errs['ru']:.1f}% | {errs['en']:.1f}% | {spread(opening + rest)} | "
            f"{spread(opening)} |")


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a seed or a list of seeds: {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("no seed given")
    return seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("paths", nargs="+", help="clips or folders of clips (with references)")
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument("--utterances", type=int, default=24)
    parser.add_argument("--seed", type=_seeds, default="1", metavar="N[,N...]",
                        help="draws the order, pauses, levels; several, comma-separated, "
                        "play one panel each and sum them up")
    parser.add_argument("--synth", action="store_true",
                        help="add synthesised sentences (festival, espeak-ng) to the clips")
    parser.add_argument("--simulated", action="store_true",
                        help="play on bench.simulate's clock: the same passes every run")
    parser.add_argument("--set", dest="tuning", action="append", default=[],
                        metavar="KEY=VALUE", help="a LiveParams or StreamingParams field")
    parser.add_argument("--show-text", action="store_true")
    parser.add_argument("--bilingual-minutes", type=float, default=0,
                        help="instead of the panel, bench.latency's bilingual session this "
                        "long (every clip of the paths, 1 s pauses, own levels)")
    parser.add_argument("--hints", action="store_true",
                        help="also with the speaker's language as a hint (simulated clock)")
    args = parser.parse_args(argv)
    args.simulated = args.simulated or args.hints
    seeds = [0] if args.bilingual_minutes else args.seed  # that session draws nothing

    params, policy = tuned(args.tuning, "15")
    clock = "simulated clock" if args.simulated else "real time"
    engine = load_bench_engine(args.model, f"{clock}, seed {','.join(map(str, seeds))} "
                                           f"{' '.join(args.tuning)}")
    panels = []
    with tempfile.TemporaryDirectory() as tmp:
        found = [c for c in find_clips(args.paths) if c.lang in ("ru", "en")]
        clips = [c for c in found if c.reference]
        if args.synth:
            from bench.common import BenchClip

            clips += [BenchClip(speak(text, lang, Path(tmp) / f"synth_{i}_{lang}.wav"), lang,
                                text) for i, (lang, text) in enumerate(SYNTH)]
        for seed in seeds:
            if len(seeds) > 1:
                print(f"\n## seed {seed}")
            panels.append((seed, play(engine, args, found, clips, seed, params, policy,
                                      Path(tmp))))
    if len(panels) > 1:
        for line in over_seeds(panels):
            print(line)
    return 0


def play(engine, args: argparse.Namespace, found: Sequence, clips: Sequence, seed: int,
         params, policy, folder: Path) -> list[Scored]:
    """Builds one session, plays it live and transcribes it offline; prints its report
    and returns its rows."""
    if args.bilingual_minutes:
        path, utterances, alone_audio = bilingual_session(found, args.bilingual_minutes,
                                                          folder)
        kind = "bench.latency's bilingual session; pauses 1 s, the clips' own levels"
    else:
        path, utterances, alone_audio = build_session(clips, args.utterances, seed, folder)
        kind = "pauses 0.5-2 s, levels -35 to -15 dBFS"
    audio = decode_file(path)
    total_s = len(audio) / SAMPLE_RATE
    print(f"session: {len(utterances)} utterances, {total_s:.0f} s; {kind}")
    runs = {}
    if args.simulated:
        from bench.simulate import CostModel, simulate

        for name, hint in HINTS.items() if args.hints else [("no hint", HINTS["no hint"])]:
            runs[name], _ = asyncio.run(simulate(engine, audio, params, policy, CostModel(),
                                                 language_hint=hint(utterances)))
        events = runs["no hint"]
    else:
        events, _, wall_s, line = run_clip(engine, path, 1.0, params, policy)
        print(f"live: {line}; {wall_s:.0f} s wall")
    whole = offline(engine, audio)
    alone = [text_of(offline(engine, a)) for a in alone_audio]
    rows = score(utterances, events, 1.0, whole, alone)
    for line in report(rows):
        print(line)
    if args.hints:
        print("\n| hint | language right per utterance | in the other language | lost | "
              "ru CER live | en WER live | committed median / p90 | first 3 s after a "
              "change |\n|---|---|---|---|---|---|---|---|")
        for name, run in runs.items():
            print(hint_report(name, score(utterances, run, 1.0, whole, alone)))
    if args.show_text:
        for i, r in enumerate(rows, 1):
            print(f"\n{i}. {r.utt.name}\n  ref:   {r.utt.reference}\n  live:  {r.live_text}"
                  f"\n  whole: {r.whole_text}\n  alone: {r.alone_text}")
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
