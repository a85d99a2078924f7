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
alternating Russian and English, each caption with its timed words (on the bus about
0.35-0.65 kB a message, to a viewer 0.2-0.3 kB). The same seed gives the same traffic in
both modes. Each caption's ``emitted_ns`` is its scheduled wall-clock time.

Viewers: ``--client-procs`` processes of raw-socket viewers (:mod:`bench.bus_viewers`,
the swarm of :mod:`bench.viewer_client`); each viewer watches one room on one edge,
spread evenly. Slow viewers handshake and never read. Latency is from the caption's
``emitted_ns`` to the kernel's receive timestamp on a fast viewer's socket.
Measurements start after ``--warmup`` seconds. The figures are in
:mod:`bench.bus_report`.

This machine's limit is printed with each run: a run whose CPUs were saturated, whose
edges waited for a CPU, whose viewer processes used up their core or read what had
arrived late, is marked ``SATURATED`` (its latencies measure the machine, not the bus)
and run again up to ``--retries`` times.

Every phase has a time limit; the benchmark stops by itself.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path

from bench.bus_nodes import (
    HOST,
    EdgeSpec,
    RoomsSpec,
    edge_process,
    rooms_process,
)
from bench.bus_report import describe_run, figures, message_sizes, summary
from bench.bus_viewers import Scenario, plan_viewers
from bench.bus_viewers import run as run_viewers
from bench.machine import describe
from bench.nats_server import NatsServer
from bench.viewer_client import ClientPlan
from bench.viewers import cpu_times, pct, proc_cpu_s, proc_mem_mb, raise_fd_limit

# -- one run -----------------------------------------------------------------------------------


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
                   help="niceness of the viewer processes (0: the edges' own; niced, they "
                        "read late beside other work, and a late read of several captions "
                        "stamps them all with the last one's arrival)")
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
