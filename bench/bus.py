"""Venue benchmark: rooms on a NATS JetStream bus, serving edges, many viewers (issue 20).

Usage:
    .venv/bin/python -m bench.bus --rooms 1,5,20 --edges 2 --viewers-per-edge 2000 \\
        --slow-share 0.05 --seconds 60

For each number of rooms in ``--rooms`` it runs the same viewers twice:

* ``bus``: a real ``nats-server -js`` on loopback with a fresh store; one process holds
  every room (a :class:`~captioner.bus.local.LocalBus` and a
  :class:`~captioner.bus.publisher.RoomPublisher` per room, each on its own connection)
  and publishes synthetic caption traffic into the local buses; ``--edges`` serving
  processes each read every room from the bus (a
  :class:`~captioner.bus.edge.JetStreamBus` per room on one connection) into a
  :class:`~captioner.delivery.broadcast.Broadcaster` per room served by a real
  :class:`~captioner.delivery.server.CaptionServer` (one port per room);
* ``local``: the room's own server, no bus: the same serving processes, each room's
  LocalBus straight into its Broadcaster, the same traffic played in the serving
  process itself.

``captioner serve`` (one port, ``/r/ROOM/ws``) is not built yet; the server here is the
one ``captioner run`` serves its views with, and an edge will hand each room's viewers
to the same Broadcaster and websocket sender (only the handshake's routing differs).

Then, at the largest number of rooms, ``bus`` once more with the slow viewers on the first
edge only: the fast viewers of the edges with and without slow ones see the same traffic
at the same moment on the same machine, so that their p99s say whether the slow viewers
move the others' (with one edge: a run without slow viewers).

The traffic: per room, ``--commits`` committed and ``--partials`` partial captions a
second on average (3 and 5 by default), at random (exponential) gaps, utterances
alternating Russian and English, each caption with its timed words (on the bus, about
0.5-0.8 kB a message; to the viewers about 0.3-0.4 kB). The same seed gives the same
traffic in both modes. Each caption's ``emitted_ns`` is its scheduled wall-clock time.

Viewers: ``--client-procs`` processes of raw-socket viewers (:mod:`bench.bus_viewers`,
the swarm of :mod:`bench.viewer_client`), below the edges' priority (``--client-nice``);
each viewer watches one room on one edge, spread evenly. Slow viewers handshake and
never read. Latency is from the caption's ``emitted_ns`` to the kernel's receive
timestamp on a fast viewer's socket. Measurements start after ``--warmup`` seconds.

This machine's limit is printed with each run: a run whose CPUs were saturated, whose
viewer processes used up their core or read what had arrived late, is marked
``SATURATED``, and its latencies measure the machine, not the bus.

Every phase has a time limit; the benchmark stops by itself.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path

from bench.bus_nodes import (
    HOST,
    EdgeSpec,
    RoomsSpec,
    edge_process,
    make_caption,
    proc_cpu_s,
    proc_mem_mb,
    rooms_process,
)
from bench.bus_viewers import Target, lag_ms
from bench.bus_viewers import run as run_viewers
from bench.machine import describe
from bench.viewer_client import ClientPlan
from bench.viewers import cpu_times, pct, raise_fd_limit

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


# -- nats-server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class NatsServer:
    """``nats-server -js`` on a free loopback port with a store of its own; ready when it
    says ``Server is ready``."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        binary = shutil.which("nats-server")
        if binary is None:
            raise RuntimeError("nats-server is not installed (scripts/setup.sh --test)")
        process = self.process = subprocess.Popen(
            [binary, "-js", "-sd", str(self.store), "-a", HOST, "-p", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        ready = threading.Event()

        def read() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                self.log.append(line.rstrip())
                if "Server is ready" in line:
                    ready.set()
            ready.set()  # it exited: start() says so

        self._reader = threading.Thread(target=read, name="nats-server-log", daemon=True)
        self._reader.start()
        if not ready.wait(timeout_s) or process.poll() is not None:
            self.stop()
            raise RuntimeError("nats-server did not start:\n" + "\n".join(self.log[-10:]))

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._reader is not None:
            self._reader.join(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


# -- one run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One run: ``mode`` (bus or local), ``rooms``, and per edge ``fast`` + ``slow``
    viewers."""

    mode: str
    rooms: int
    fast: int
    slow: int
    label: str = ""
    #: How many edges (the first ones) get the slow viewers; None: every edge.
    slow_edges: int | None = None

    def slow_on(self, edge: int) -> int:
        return self.slow if self.slow_edges is None or edge < self.slow_edges else 0

    def viewers(self, edges: int) -> int:
        return sum(self.fast + self.slow_on(edge) for edge in range(edges))

    @property
    def name(self) -> str:
        return f"{self.mode}, {self.rooms} room{'s' * (self.rooms != 1)}" + (
            f", {self.label}" if self.label else "")


def split(total: int, parts: int, rotate: int = 0) -> list[int]:
    """``total`` in ``parts`` as even as can be; the larger shares start at ``rotate``."""
    shares = [total // parts + (1 if i < total % parts else 0) for i in range(parts)]
    rotate %= parts
    return shares[-rotate:] + shares[:-rotate] if rotate else shares


def plan_viewers(scenario: Scenario, edges: int, ports: list[list[int]],
                 procs: int) -> list[tuple[list[Target], list[Target]]]:
    """Each viewer process's fast and slow targets: every edge's viewers spread evenly
    over the rooms, and over the processes in turn."""
    fast: list[Target] = []
    slow: list[Target] = []
    for edge in range(edges):
        per_room = zip(split(scenario.fast, scenario.rooms, edge),
                       split(scenario.slow_on(edge), scenario.rooms, edge), strict=True)
        for room, (n_fast, n_slow) in enumerate(per_room):
            target = Target(ports[edge][room], room, edge)
            fast += [target] * n_fast
            slow += [target] * n_slow
    return [(fast[i::procs], slow[i::procs]) for i in range(procs)]


def _expect(conn: Connection, tag: str, timeout_s: float, who: str):
    if not conn.poll(timeout_s):
        raise TimeoutError(f"{who}: no {tag!r} within {timeout_s:.0f} s")
    msg = conn.recv()
    if msg[0] != tag:
        raise RuntimeError(f"{who}: expected {tag!r}, got {msg[0]!r}"
                           + (f": {msg[1]}" if msg[0] == "error" else ""))
    return msg


def cpu_pressure_us() -> float:
    """Microseconds in which some task waited for a CPU (Linux PSI), NaN without PSI."""
    try:
        with open("/proc/pressure/cpu", encoding="ascii") as fh:
            some = fh.readline().split()
        return float(some[-1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return math.nan


def busy_fraction(before: dict[str, list[int]], after: dict[str, list[int]]
                  ) -> tuple[float, float, float]:
    """(busy, interrupts, steal) shares of all CPUs between two
    :func:`bench.viewers.cpu_times`; interrupts (irq + softirq) are mostly the loopback
    network's work for this benchmark's sockets, which no process is charged for."""
    total = idle = irq = steal = 0
    for name, end in after.items():
        delta = [b - a for a, b in zip(before.get(name, end), end, strict=False)]
        total += sum(delta[:8])
        idle += delta[3] + delta[4]
        irq += delta[5] + delta[6]
        steal += delta[7] if len(delta) > 7 else 0
    if not total:
        return math.nan, math.nan, math.nan
    return (total - idle) / total, irq / total, steal / total


def run_scenario(args: argparse.Namespace, scenario: Scenario) -> dict:
    """Runs one scenario and returns its raw figures."""
    ctx = mp.get_context("spawn")
    procs: list[mp.Process] = []
    conns: list[Connection] = []

    def spawn(target, *targs, name: str) -> Connection:
        conn, child = ctx.Pipe()
        proc = ctx.Process(target=target, args=(child, *targs), name=name, daemon=True)
        proc.start()
        procs.append(proc)
        conns.append(conn)
        return conn

    rate = args.commits + args.partials
    # The warm-up is played too; its captions are not measured.
    played_s = args.warmup + args.seconds
    store = Path(tempfile.mkdtemp(prefix="bench-bus-"))
    nats = NatsServer(store / "jetstream") if scenario.mode == "bus" else None
    out: dict = {"scenario": scenario}
    stopping = False
    try:
        rooms_conn = None
        if nats is not None:
            nats.start()
            spec = RoomsSpec(nats.url, scenario.rooms, played_s, rate, args.seed, args.warmup)
            rooms_conn = spawn(rooms_process, spec, name="bus-rooms")
            _expect(rooms_conn, "ready", 90, "rooms")
        viewers = scenario.fast + scenario.slow
        edge_conns = [spawn(edge_process, EdgeSpec(
            i, scenario.mode, nats.url if nats else None, scenario.rooms, played_s, rate,
            args.seed, client_queue=args.client_queue, max_clients=max(100, viewers),
            server_sndbuf=args.server_sndbuf), name=f"bus-edge-{i}")
            for i in range(args.edges)]
        ports, rss_idle = [], []
        for conn in edge_conns:
            _, room_ports, rss = _expect(conn, "ports", 90, "edge")
            ports.append(room_ports)
            rss_idle.append(rss)
        base = ClientPlan(HOST, 0, 0, 0, slow_rcvbuf=args.slow_rcvbuf,
                          connect_timeout_s=args.connect_timeout,
                          run_timeout_s=args.connect_timeout + played_s + 300)
        client_conns = []
        for i, (fast, slow) in enumerate(plan_viewers(scenario, args.edges, ports,
                                                      args.client_procs)):
            plan = replace(base, fast=len(fast), slow=len(slow))
            client_conns.append(spawn(run_viewers, plan, fast, slow, args.client_nice,
                                      name=f"bus-viewers-{i}"))
        ready = [_expect(c, "ready", args.connect_timeout + 30, "viewers")[1]
                 for c in client_conns]
        t0_ns = time.time_ns() + 500_000_000
        for conn in [rooms_conn] if rooms_conn is not None else edge_conns:
            conn.send(("go", t0_ns))
        # The orchestrator keeps the time: the measurement starts after the warm-up.
        time.sleep(max(0.0, (t0_ns - time.time_ns()) / 1e9 + args.warmup))
        for conn in client_conns + edge_conns:
            conn.send("measure")
        stat0, pressure0 = cpu_times(), cpu_pressure_us()
        nats_cpu0 = proc_cpu_s(nats.process.pid) if nats and nats.process else math.nan
        wall0 = time.monotonic()
        if rooms_conn is not None:
            played = _expect(rooms_conn, "done", played_s * 2 + 90, "rooms")[1]
        else:
            played = [_expect(c, "played", played_s * 2 + 90, "edge")[1]
                      for c in edge_conns][0]
        time.sleep(args.drain)  # the last captions reach the viewers
        wall = time.monotonic() - wall0
        out["busy"], out["irq"], out["steal"] = busy_fraction(stat0, cpu_times())
        out["cpus"] = len(stat0)
        out["pressure"] = (cpu_pressure_us() - pressure0) / 1e6 / wall
        if nats is not None and nats.process is not None:
            out["nats_cpu"] = (proc_cpu_s(nats.process.pid) - nats_cpu0) / wall
            out["nats_rss"] = proc_mem_mb(nats.process.pid)
        for conn in edge_conns:
            conn.send("report")
        out["edges"] = [_expect(c, "report", 60, "edge")[1] for c in edge_conns]
        for conn in client_conns:
            conn.send("stop")
        out["clients"] = [_expect(c, "results", 120, "viewers")[1] for c in client_conns]
        out.update(played=played, ready=ready, rss_idle=rss_idle, wall=wall)
        if rooms_conn is not None:
            rooms_conn.send("stop")
        for conn in edge_conns:
            conn.send("stop")
        return out
    except BaseException:
        stopping = True
        raise
    finally:
        for proc in procs:
            proc.join(timeout=1 if stopping else 15)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        for conn in conns:
            conn.close()
        if nats is not None:
            nats.stop()
        shutil.rmtree(store, ignore_errors=True)


# -- figures -----------------------------------------------------------------------------------


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


# -- the command -------------------------------------------------------------------------------


def _rooms_list(text: str) -> list[int]:
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values or values[0] < 1 or values[-1] > 99:
        raise argparse.ArgumentTypeError("rooms are 1 to 99")
    return values


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.bus", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rooms", type=_rooms_list, default=[1, 5, 20],
                   help="numbers of rooms to run, comma-separated (1,5,20)")
    p.add_argument("--edges", type=int, default=2, help="serving processes")
    p.add_argument("--viewers-per-edge", type=int, default=2000,
                   help="viewers on each edge, spread over the rooms")
    p.add_argument("--slow-share", type=float, default=0.05,
                   help="share of the viewers that never read after the handshake")
    p.add_argument("--seconds", type=float, default=30.0, help="seconds measured")
    p.add_argument("--warmup", type=float, default=2.0,
                   help="seconds of traffic before the measurement starts")
    p.add_argument("--drain", type=float, default=1.5,
                   help="seconds allowed after the last caption before counting")
    p.add_argument("--commits", type=float, default=3.0,
                   help="committed captions a second per room")
    p.add_argument("--partials", type=float, default=5.0,
                   help="partial captions a second per room")
    p.add_argument("--modes", default="local,bus",
                   help="which runs: local (the room's own server), bus, or both")
    p.add_argument("--no-slow-control", dest="slow_control", action="store_false",
                   help="skip the run with slow viewers on the first edge only")
    p.add_argument("--slow-tolerance-ms", type=float, default=10.0,
                   help="how far the slow viewers may move the others' p99 and still "
                        "count as not moving it")
    p.add_argument("--client-procs", type=int, default=2, help="viewer processes")
    p.add_argument("--client-nice", type=int, default=0,
                   help="niceness of the viewer processes (0: the edges' own)")
    p.add_argument("--client-queue", type=int, default=256,
                   help="the Broadcaster's per-viewer queue")
    p.add_argument("--server-sndbuf", type=int, default=16384,
                   help="SO_SNDBUF of the edges' viewer sockets, bytes, like a Wi-Fi path's "
                        "(0: loopback's autotuning, where a stalled viewer holds MBs)")
    p.add_argument("--slow-rcvbuf", type=int, default=4096,
                   help="SO_RCVBUF of a slow viewer's socket, bytes")
    p.add_argument("--connect-timeout", type=float, default=120.0,
                   help="seconds allowed to open every viewer")
    p.add_argument("--retries", type=int, default=2,
                   help="times a run marked SATURATED is run again (every attempt is "
                        "printed; the first one this machine could measure is kept)")
    p.add_argument("--seed", type=int, default=20, help="seed of the traffic")
    return p


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    slow = round(args.viewers_per_edge * args.slow_share)
    fast = args.viewers_per_edge - slow
    out = [Scenario(mode, rooms, fast, slow)
           for rooms in args.rooms for mode in ("local", "bus") if mode in modes]
    if args.slow_control and slow and "bus" in modes:
        if args.edges > 1:
            out.append(Scenario("bus", args.rooms[-1], fast, slow, slow_edges=1,
                                label="slow viewers on edge 0 only"))
        else:
            out.append(Scenario("bus", args.rooms[-1], fast, 0, label="no slow viewers"))
    return out


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark and prints its report; 0 if the targets were met where the
    machine could measure them, 1 if not, 2 on an error."""
    args = _parser().parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    # Stopped (Ctrl-C, or a kill of a run in the background, where SIGINT is ignored): the
    # finally blocks stop the processes and the nats-server and remove the store.
    handlers = {sig: signal.signal(sig, signal.default_int_handler)
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _main(args)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _main(args: argparse.Namespace) -> int:
    modes = {m.strip() for m in args.modes.split(",") if m.strip()}
    if (args.edges < 1 or args.viewers_per_edge < 1 or not 0 <= args.slow_share < 1
            or args.seconds <= 0 or args.warmup < 0 or args.client_procs < 1 or args.retries < 0
            or args.commits + args.partials <= 0 or not modes <= {"local", "bus"} or not modes):
        print("error: edges, viewers-per-edge, seconds and client-procs must be positive, "
              "slow-share in [0, 1), modes local and/or bus", file=sys.stderr)
        return 2
    raise_fd_limit(args.edges * args.viewers_per_edge + 1024)
    (bus_lo, bus_hi), (wire_lo, wire_hi) = message_sizes()
    header = [
        f"Bus benchmark: rooms {','.join(map(str, args.rooms))}; {args.edges} edge(s) x "
        f"{args.viewers_per_edge} viewers ({100 * args.slow_share:g}% slow); per room "
        f"{args.commits:g} committed + {args.partials:g} partial captions a second; "
        f"{args.seconds:g} s measured after {args.warmup:g} s",
        f"machine: {describe()}",
        f"load average before: {_loadavg()}",
        f"messages: {bus_lo}-{bus_hi} bytes on the bus, {wire_lo}-{wire_hi} bytes to a "
        f"viewer; {args.client_procs} viewer process(es) at nice {args.client_nice}; edges' "
        f"viewer sockets SO_SNDBUF {args.server_sndbuf or 'autotuned'}, client_queue "
        f"{args.client_queue}",
        "command: python -m bench.bus " + " ".join(args.argv),
    ]
    print("\n".join(header), flush=True)
    results = []
    try:
        for scenario in scenarios(args):
            for attempt in range(1, args.retries + 2):
                f = figures(args, run_scenario(args, scenario))
                f["attempt"] = attempt
                if not f["reasons"] or attempt > args.retries:
                    break
                # Not a measurement of the bus: said, and measured again.
                print(f"== {scenario.name}: attempt {attempt} SATURATED ("
                      + "; ".join(f["reasons"]) + f"): all p50 {pct(f['lat'], .5):.1f} p99 "
                      f"{pct(f['lat'], .99):.1f} ms; run again", flush=True)
            results.append(f)
            print(describe_run(args, f), flush=True)
    except (TimeoutError, RuntimeError, EOFError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text, met = summary(args, results)
    print(f"load average after: {_loadavg()}")
    print(text)
    return 0 if met else 1


def _loadavg() -> str:
    try:
        with open("/proc/loadavg", encoding="ascii") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "unknown"


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
