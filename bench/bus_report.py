"""The figures of :mod:`bench.bus`: what each run measured, whether this machine could
measure it, and the table and the targets at the end."""

from __future__ import annotations

import argparse
import time
from array import array

from bench.bus_nodes import make_caption
from bench.bus_viewers import Scenario, lag_ms
from bench.viewers import pct

#: What the issue asks of the bus.
TARGET_MEDIAN_MS = 20.0
TARGET_P99_MS = 100.0

#: Past these the run measures the machine, not the bus.
MACHINE_BUSY = 0.90
CLIENT_CORE = 0.90
READ_LAG_P99_MS = 50.0
EDGE_LATE_P99_MS = 50.0
#: An edge busier than this is at its own limit (a finding, not the machine's).
EDGE_CORE = 0.80


def _values(clients: list[dict], *names: str) -> list[float]:
    out = array("d")
    for client in clients:
        for name in names:
            values = array("d")
            values.frombytes(client["lat"][name])
            out.extend(v * 1000 for v in values if v == v)
    return sorted(out)


def _dist(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (f"p50 {pct(values, .5):7.1f}  p99 {pct(values, .99):7.1f}  "
            f"max {values[-1]:7.1f}  (n={len(values)})")


def figures(args: argparse.Namespace, raw: dict) -> dict:
    """The run's figures, and whether this machine could measure it."""
    sc: Scenario = raw["scenario"]
    clients, edges, played = raw["clients"], raw["edges"], raw["played"]
    lat = _values(clients, "kernel_committed", "kernel_partial")
    by_edge = {edge: _values([{"lat": c["lat_by_edge"][edge]} for c in clients
                              if edge in c["lat_by_edge"]], "kernel_committed", "kernel_partial")
               for edge in range(args.edges)}
    committed = _values(clients, "kernel_committed")
    partial = _values(clients, "kernel_partial")
    fast = [(edge, room, c[0], c[2]) for client in clients
            for (edge, room), c in zip(client["fast_targets"], client["fast"], strict=True)]
    complete = sum(1 for _e, room, got, gaps in fast
                   if got == played["committed"][room] and not gaps)
    lag = sorted(lag_ms(clients))
    arrival, loop_late, fanout_cpu, fanout_wall = (
        sorted(v for edge in edges for v in _ms(edge[name]))
        for name in ("arrival_ms", "loop_late_ms", "fanout_cpu_ms", "fanout_wall_ms"))
    client_core = [c["cpu_s"] / c["wall_s"] for c in clients]
    batched = sum(c["batched"] for c in clients) / max(1, sum(c["captions"] for c in clients))
    opened = sum(r["opened"] for r in raw["ready"])
    edge_core = [e["cpu_s"] / e["wall_s"] for e in edges]
    # Cores: what this benchmark's processes used, and what else ran on the machine.
    ours = sum(edge_core) + sum(client_core) + raw.get("nats_cpu", 0.0) + (
        played["cpu_s"] / played["wall_s"] if "sent" in played else 0.0)
    irq = raw["irq"] * raw["cpus"]
    others = max(0.0, raw["busy"] * raw["cpus"] - ours - irq)
    notes, reasons = [], []
    late99 = pct(loop_late, .99) if loop_late else 0.0
    # A fan-out holds the loop for its own CPU time; anything past that is waiting.
    own99 = pct(fanout_cpu, .99) if fanout_cpu else 0.0
    if late99 > EDGE_LATE_P99_MS + own99:
        if max(edge_core) >= EDGE_CORE:
            notes.append(f"an edge used {100 * max(edge_core):.0f}% of a core and its event "
                         f"loop woke up {late99:.0f} ms late (p99): the edge's own limit")
        else:
            reasons.append(f"the edges' event loops woke up {late99:.0f} ms late (p99) while "
                           f"using at most {100 * max(edge_core):.0f}% of a core: they waited "
                           "for a CPU")
    if raw["busy"] >= MACHINE_BUSY:
        reasons.append(f"the machine's CPUs were {100 * raw['busy']:.0f}% busy")
    if max(client_core) >= CLIENT_CORE:
        reasons.append(f"a viewer process used {100 * max(client_core):.0f}% of a core")
    if lag and pct(lag, .99) > READ_LAG_P99_MS:
        reasons.append(f"viewer processes read captions {pct(lag, .99):.0f} ms after they "
                       "arrived (p99)")
    if opened < sc.viewers(args.edges):
        reasons.append(f"only {opened}/{sc.viewers(args.edges)} viewers connected")
    return {
        "scenario": sc, "lat": lat, "by_edge": by_edge, "committed": committed,
        "partial": partial,
        "complete": complete, "fast_viewers": len(fast), "lag": lag,
        "arrival": arrival, "loop_late": loop_late, "fanout_cpu": fanout_cpu,
        "fanout_wall": fanout_wall,
        "client_core": client_core, "batched": batched, "opened": opened,
        "reasons": reasons, "notes": notes, "ours": ours, "irq": irq, "others": others,
        "raw": raw,
    }


def describe_run(args: argparse.Namespace, f: dict) -> str:
    sc: Scenario = f["scenario"]
    raw = f["raw"]
    played = raw["played"]
    slow = (f"{sc.slow} slow" if sc.slow_edges is None else
            f"{sc.slow} slow on the first {sc.slow_edges} edge(s), none on the others")
    lines = [f"== {sc.name}: {args.edges} edge(s) x {sc.fast + sc.slow} viewers "
             f"({sc.fast} fast, {slow}), {args.seconds:g} s measured"
             + (f" (attempt {f['attempt']})" if f.get("attempt", 1) > 1 else "")]
    lines.append(f"  published: {sum(played['committed'])} committed + "
                 f"{sum(played['partials'])} partial captions in all rooms "
                 f"({args.warmup:g} s of warm-up included); "
                 f"room publish timer late p99 {pct(sorted(_ms(played['late_ms'])), .99):.1f} ms"
                 + (f"; over the bus: {played['sent']} sent, {played['dropped']} dropped, "
                    f"{'all acknowledged' if played['acked'] else 'NOT all acknowledged'}"
                    if "sent" in played else ""))
    ready = raw["ready"]
    lines.append(f"  viewers: {f['opened']}/{sc.viewers(args.edges)} connected in "
                 f"{max(r['connect_s'] for r in ready):.1f} s; fast viewers with every "
                 f"committed caption of their room, in order: {f['complete']}/"
                 f"{f['fast_viewers']}")
    lines.append("  latency room publish -> viewer's socket (kernel timestamp), ms:")
    lines.append(f"    committed {_dist(f['committed'])}")
    lines.append(f"    partial   {_dist(f['partial'])}")
    lines.append(f"    all       {_dist(f['lat'])}")
    for edge, values in f["by_edge"].items():
        lines.append(f"    edge {edge}'s fast viewers ({sc.slow_on(edge)} slow beside them): "
                     f"{_dist(values)}")
    if "acked_ms" in played:
        lines.append("  room publish -> stored and acknowledged by the bus (committed), ms: "
                     + _dist(sorted(_ms(played["acked_ms"]))))
    lines.append(f"  room publish -> edge subscriber, ms: {_dist(f['arrival'])}")
    for i, (edge, idle) in enumerate(zip(raw["edges"], raw["rss_idle"], strict=True)):
        cut = edge["viewers_at_start"] - edge["viewers_at_end"]
        lines.append(
            f"  edge {i}: CPU {100 * edge['cpu_s'] / edge['wall_s']:.0f}% of a core; RSS "
            f"{idle:.0f} MiB before viewers, {edge['rss']:.0f} MiB at the end, peak "
            f"{edge['rss_peak']:.0f} MiB; viewers {edge['viewers_at_start']} -> "
            f"{edge['viewers_at_end']} (cut off as too slow: {edge['dropped']} by their queue, "
            f"{max(0, cut - edge['dropped'])} otherwise)")
    lines.append(f"  edges' fan-out of one caption to its room's viewers, ms: CPU "
                 f"{_short(f['fanout_cpu'])}; wall {_short(f['fanout_wall'])}")
    lines.append(f"  edges' event loop late: {_dist(f['loop_late'])}")
    gc_ms = {g: sorted(ms for e in raw["edges"] for ms in e["gc_ms"][g]) for g in (0, 1, 2)}
    full = [f"edge {i} {ms:.0f} ms" for i, e in enumerate(raw["edges"]) for ms in e["gc_ms"][2]]
    lines.append("  edges' garbage collections: " + ", ".join(
        f"generation {g} {len(ms)}x" + (f" (longest {ms[-1]:.1f} ms)" if ms else "")
        for g, ms in gc_ms.items()) + (f"; the full ones: {', '.join(full)}" if full else ""))
    if "nats_cpu" in raw:
        lines.append(f"  nats-server: CPU {100 * raw['nats_cpu']:.0f}% of a core, RSS "
                     f"{raw['nats_rss'][0]:.0f} MiB (peak {raw['nats_rss'][1]:.0f}); rooms "
                     f"process CPU {100 * played['cpu_s'] / played['wall_s']:.0f}% of a core")
    lines.append("  viewer processes: CPU "
                 + ", ".join(f"{100 * c:.0f}%" for c in f["client_core"])
                 + f" of a core (nice {args.client_nice}); read "
                 f"{pct(f['lag'], .5):.1f} / {pct(f['lag'], .99):.1f} ms (p50/p99) after "
                 f"arrival; {100 * f['batched']:.1f}% of captions read with a later one")
    lines.append(f"  machine: all {raw['cpus']} CPUs {100 * raw['busy']:.0f}% busy"
                 + (f" ({100 * raw['steal']:.0f}% steal)" if raw["steal"] > 0.005 else "")
                 + f": this benchmark's processes {100 * f['ours']:.0f}% of a core, interrupts "
                 f"(the loopback network) {100 * f['irq']:.0f}%, other work on the machine "
                 f"{100 * f['others']:.0f}%"
                 + (f"; some task waited for a CPU {100 * raw['pressure']:.0f}% of the time"
                    if raw["pressure"] == raw["pressure"] else ""))
    lines += [f"  note: {note}" for note in f["notes"]]
    lines.append("  " + ("SATURATED: " + "; ".join(f["reasons"])
                         + ": these latencies measure the machine, not the bus"
                         if f["reasons"] else "not saturated"))
    return "\n".join(lines)


def _short(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"p50 {pct(values, .5):.2f} p99 {pct(values, .99):.2f} max {values[-1]:.2f}"


def _ms(raw: bytes) -> array:
    values = array("d")
    values.frombytes(raw)
    return values


def message_sizes() -> tuple[tuple[int, int], tuple[int, int]]:
    """(min, max) bytes of a bus message and of a viewer's message, over one cycle."""
    from captioner.bus.codec import encode_published
    from captioner.bus.messages import Published
    from captioner.delivery.broadcast import dumps
    from captioner.delivery.wire import caption_to_dict

    captions = [make_caption(i, time.time_ns()) for i in range(16)]
    bus = [len(encode_published(Published("room-00", c))) for c in captions]
    wire = [len(dumps(caption_to_dict(c))) for c in captions]
    return (min(bus), max(bus)), (min(wire), max(wire))


def summary(args: argparse.Namespace, results: list[dict]) -> tuple[str, bool]:
    """The table of every run, the bus's cost at each number of rooms, and the targets."""
    lines = ["| rooms | mode | viewers (slow) | p50 ms | p99 ms | bus adds p50 / p99 ms | "
             "edge CPU % | edge RSS MiB | nats CPU % | machine busy % | saturated | attempt |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    by_key = {(f["scenario"].mode, f["scenario"].rooms, f["scenario"].label): f
              for f in results}
    met = True
    checks = []
    for f in results:
        sc, raw = f["scenario"], f["raw"]
        adds = ""
        local = by_key.get(("local", sc.rooms, ""))
        if sc.mode == "bus" and not sc.label and local is not None:
            d50 = pct(f["lat"], .5) - pct(local["lat"], .5)
            d99 = pct(f["lat"], .99) - pct(local["lat"], .99)
            adds = f"{d50:+.1f} / {d99:+.1f}"
            valid = not f["reasons"] and not local["reasons"]
            ok = d50 <= TARGET_MEDIAN_MS and d99 <= TARGET_P99_MS
            met &= ok or not valid
            checks.append(f"{sc.rooms} room(s): the bus adds {d50:+.1f} ms at the median "
                          f"(target <= {TARGET_MEDIAN_MS:g}) and {d99:+.1f} ms at p99 "
                          f"(target <= {TARGET_P99_MS:g}): "
                          + ("met" if ok else "NOT met") + ("" if valid else
                                                            " (saturated: not a measurement)"))
        cpu = "/".join(f"{100 * e['cpu_s'] / e['wall_s']:.0f}" for e in raw["edges"])
        rss = "/".join(f"{e['rss_peak']:.0f}" for e in raw["edges"])
        nats = f"{100 * raw['nats_cpu']:.0f}" if "nats_cpu" in raw else "-"
        lines.append(
            f"| {sc.rooms} | {sc.mode}{' ' + sc.label if sc.label else ''} | "
            f"{args.edges} x {sc.fast + sc.slow} ({sc.slow}"
            f"{'' if sc.slow_edges is None else f' on {sc.slow_edges}'}) | "
            f"{pct(f['lat'], .5):.1f} | "
            f"{pct(f['lat'], .99):.1f} | {adds or '-'} | {cpu} | {rss} | {nats} | "
            f"{100 * raw['busy']:.0f} | {'yes' if f['reasons'] else 'no'} | "
            f"{f.get('attempt', 1)} |")
    control = next((f for f in results if f["scenario"].label), None)
    if control is not None:
        sc = control["scenario"]
        if sc.slow_edges is not None:
            # The same run: edges with slow viewers against edges without, same traffic,
            # same moment, same machine.
            with_slow, without = (
                sorted(v for e, vs in control["by_edge"].items() if (e < sc.slow_edges) == w
                       for v in vs) for w in (True, False))
            valid = not control["reasons"]
            how = (f"on the edge(s) with {sc.slow} slow viewers and "
                   f"{pct(without, .99):.1f} ms on the edge(s) without, in the same run")
        else:
            other = by_key.get(("bus", sc.rooms, ""))
            with_slow = other["lat"] if other is not None else []
            without = control["lat"]
            valid = other is not None and not control["reasons"] and not other["reasons"]
            how = (f"with {other['scenario'].slow if other else '?'} slow viewers per edge "
                   f"and {pct(without, .99):.1f} ms without (another run)")
        if with_slow and without:
            moved = pct(with_slow, .99) - pct(without, .99)
            ok = moved <= args.slow_tolerance_ms
            met &= ok or not valid
            checks.append(f"{sc.rooms} room(s) on the bus: the fast viewers' p99 is "
                          f"{pct(with_slow, .99):.1f} ms {how} ({moved:+.1f} ms; 'does not "
                          f"move' read as at most +{args.slow_tolerance_ms:g} ms): "
                          + ("met" if ok else "NOT met")
                          + ("" if valid else " (saturated: not a measurement)"))
    valid_all = not any(f["reasons"] for f in results)
    lines += ["", "targets:"] + [f"  {c}" for c in checks]
    if not valid_all:
        lines.append("  some runs were SATURATED (see above): their figures are this "
                     "machine's limit, not the bus's")
    return "\n".join(lines), met
