"""Fan-out benchmark: many viewers on loopback, some of them stalled (issue 5).

Usage:
    .venv/bin/python -m bench.viewers --viewers 1000 --slow-fraction 0.05 --seconds 30

Three kinds of process, so that the figures are the server's and not the clients':

* the server process runs the real :class:`~captioner.delivery.server.CaptionServer` and
  :class:`~captioner.delivery.broadcast.Broadcaster` on 127.0.0.1, pinned to the first CPU, and
  publishes a caption stream itself, on its event loop as the pipeline does
  (default: 2 committed captions and 8 partials a second, ~60 characters each,
  alternating Russian and English utterances). It measures its own CPU time, RSS, the
  time each ``publish()`` takes and how late its event loop wakes up;
* one or more client processes (:mod:`bench.viewer_client`) on the other CPUs hold the
  viewers on raw sockets and one ``epoll``: no asyncio, no websockets library. Fast
  viewers read everything; slow viewers handshake and then never read;
* this process only orchestrates and prints.

Latency is measured from ``emitted_at`` (set just before ``publish()``) to the kernel's
receive timestamp on the viewer's socket (the server's own latency), and to the moment
the client process read it (which adds the client's delay). Both are printed, for
committed and partial captions separately.

Stalled viewers take long to cut off at this message rate (~2.6 KB/s): on loopback
the kernel grows the server's send buffer to megabytes, so in a 30 s run they never
reach the Broadcaster's queue. ``--server-sndbuf 16384`` gives the server's sockets a
send buffer like a Wi-Fi path's (the queue then starts to fill ~24 s in), and a smaller
``--client-queue`` shows the cut-off within a short run. websockets' keepalive does not
close them: its ping and its close both wait for the write buffer to drain first.

Every phase has a time limit; the benchmark stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import math
import multiprocessing as mp
import os
import pstats
import resource
import socket
import sys
import time
from array import array
from dataclasses import replace
from multiprocessing.connection import Connection

from bench.machine import describe
from bench.viewer_client import ClientPlan
from bench.viewer_client import run as run_client
from captioner.delivery.broadcast import Broadcaster, dumps
from captioner.delivery.server import CaptionServer
from captioner.delivery.wire import caption_to_dict
from captioner.events import Caption

HOST = "127.0.0.1"
TEXTS = {
    "en": "Water resources in the region keep shrinking every single year.",
    "ru": "Сегодня мы обсуждаем водные ресурсы региона и их сокращение.",
}


def raise_fd_limit(wanted: int) -> int:
    """Raises this process's open-file limit towards ``wanted``; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def proc_cpu_s(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process, from /proc (NaN where it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        if pid == "self":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            return usage.ru_utime + usage.ru_stime
        return float("nan")


def proc_mem_mb(pid: int | str = "self") -> tuple[float, float]:
    """(RSS now, peak RSS) of a process in MiB, from /proc."""
    now = peak = float("nan")
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    now = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return now, peak


def cpu_times() -> dict[str, list[int]]:
    """Per-CPU jiffies from /proc/stat: ``{"cpu0": [user, nice, system, idle, ...]}``."""
    out: dict[str, list[int]] = {}
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("cpu") and line[3:4].isdigit():
                    name, *values = line.split()
                    out[name] = [int(v) for v in values]
    except (OSError, ValueError):
        pass
    return out


def cpu_busy(before: dict[str, list[int]], after: dict[str, list[int]]) -> str:
    """How busy each CPU was between two :func:`cpu_times`, all processes together."""
    parts = []
    for name, end in after.items():
        delta = [b - a for a, b in zip(before.get(name, end), end, strict=False)]
        total = sum(delta[:8]) or 1
        idle = delta[3] + delta[4]  # idle + iowait
        steal = delta[7] if len(delta) > 7 else 0
        parts.append(f"{name} {100 * (total - idle) / total:.0f}% busy"
                     + (f" ({100 * steal / total:.0f}% steal)" if steal else ""))
    return ", ".join(parts) or "unknown"


def pct(values, q: float) -> float:
    """The ``q`` quantile (nearest rank) of already sorted values."""
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


# The server process


def _server_process(conn: Connection, args: argparse.Namespace, cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    raise_fd_limit(args.viewers * 2 + 256)
    if args.server_nice:
        os.nice(args.server_nice)
    logging.basicConfig(level=logging.WARNING)
    try:
        asyncio.run(_serve(conn, args))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass  # the parent went away: nothing to report to


async def _recv(conn: Connection, timeout_s: float):
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, conn.poll, timeout_s):
        raise TimeoutError("no word from the parent process")
    return conn.recv()


def make_caption(index: int, partials_per_committed: int, emitted_ns: int) -> Caption:
    """The ``index``-th caption of the benchmark's stream.

    Utterances alternate between the Russian floor and its English machine translation;
    each is ``partials_per_committed`` partial revisions, then its committed text.
    """
    cycle = partials_per_committed + 1
    utterance, step = divmod(index, cycle)
    lang = "ru" if utterance % 2 == 0 else "en"
    final = step == cycle - 1
    return Caption(
        id=f"floor-{utterance:05d}", final=final, lang=lang, text=TEXTS[lang],
        start_s=utterance * 2.5, end_s=utterance * 2.5 + 2.4, emitted_ns=emitted_ns,
        source="floor" if lang == "ru" else "machine",
        seq=utterance + 1 if final else None, revision=0 if final else step)


class _Watch:
    """Samples the broadcaster while the stream runs: cut-offs, and queue depths."""

    def __init__(self, broadcaster: Broadcaster, t0: float) -> None:
        self._broadcaster = broadcaster
        self._t0 = t0
        self.drop_times: list[float] = []
        self.first_queued_s: float | None = None
        self.deepest = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        seen = self._broadcaster.dropped_viewers
        tick = 0
        while True:
            await asyncio.sleep(0.05)
            now = self._broadcaster.dropped_viewers
            self.drop_times.extend([loop.time() - self._t0] * (now - seen))
            seen = now
            tick += 1
            if tick % 20 == 0:
                # Once a second, how deep the viewers' queues are, so that the report
                # can say how close the stalled viewers came to being cut off (reads
                # the broadcaster's private set; a benchmark may peek).
                attached = list(getattr(self._broadcaster, "_viewers", ()))
                depth = max((v.queue.qsize() for v in attached), default=0)
                if depth and self.first_queued_s is None:
                    self.first_queued_s = loop.time() - self._t0
                self.deepest = max(self.deepest, depth)


async def _serve(conn: Connection, args: argparse.Namespace) -> None:
    broadcaster = Broadcaster(client_queue=args.client_queue,
                              max_clients=max(1000, args.viewers))
    server = CaptionServer(broadcaster, host=HOST, port=0)
    await server.start()
    if args.server_sndbuf:
        # Accepted sockets inherit SO_SNDBUF (and the lock that stops autotuning) from
        # the listening socket. On loopback the kernel would otherwise grow a stalled
        # viewer's send buffer to megabytes (64 KiB segments), far beyond what a Wi-Fi
        # path holds, and the server's own buffers would take many minutes to fill.
        for sock in getattr(getattr(server, "_server", None), "sockets", ()):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, args.server_sndbuf)
    conn.send(("port", server.port, proc_mem_mb()[0]))
    try:
        if await _recv(conn, args.connect_timeout + 30) != "go":
            return
        conn.send(("done", await _publish(broadcaster, args)))
        await _recv(conn, 120)  # "stop"
    finally:
        await server.close()


async def _publish(broadcaster: Broadcaster, args: argparse.Namespace) -> dict:
    """Publishes the stream on schedule and measures the server while it does."""
    loop = asyncio.get_running_loop()
    viewers_at_start = broadcaster.viewer_count
    rss_connected = proc_mem_mb()[0]
    lateness_ms = array("d")
    publish_us = array("d")
    sizes: list[int] = []
    profiler = None
    if args.profile_server:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu0, t0, stat0 = proc_cpu_s(), loop.time(), cpu_times()
    watch = _Watch(broadcaster, t0)
    watcher = asyncio.create_task(watch.run())
    committed = partials = 0
    for i in range(int(args.seconds * args.rate)):
        target = t0 + i / args.rate
        delay = target - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lateness_ms.append((loop.time() - target) * 1000)
        caption = make_caption(i, args.partials_per_committed, time.time_ns())
        started = time.perf_counter()
        broadcaster.publish(caption)
        publish_us.append((time.perf_counter() - started) * 1e6)
        committed += caption.final
        partials += not caption.final
        if len(sizes) < 2 * (args.partials_per_committed + 1):
            sizes.append(len(dumps(caption_to_dict(caption))))
    wall_s = loop.time() - t0
    cpu_s = proc_cpu_s() - cpu0
    machine_busy = cpu_busy(stat0, cpu_times())
    # Let the last messages and any pending cut-offs go out before counting.
    await asyncio.sleep(args.drain)
    watcher.cancel()
    profile_text = ""
    if profiler is not None:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
        profile_text = out.getvalue()
    return {
        "viewers_at_start": viewers_at_start, "viewers_at_end": broadcaster.viewer_count,
        "dropped": broadcaster.dropped_viewers, "drop_times": watch.drop_times,
        "queued": {"first_s": watch.first_queued_s, "deepest": watch.deepest},
        "committed": committed, "partials": partials, "sizes": sizes,
        "cpu_s": cpu_s, "wall_s": wall_s, "rss_connected": rss_connected,
        "rss_peak": proc_mem_mb()[1], "machine_busy": machine_busy,
        "publish_us": publish_us.tobytes(), "lateness_ms": lateness_ms.tobytes(),
        "profile": profile_text,
    }


# The parent


def _expect(conn: Connection, tag: str, timeout_s: float, who: str):
    if not conn.poll(timeout_s):
        raise TimeoutError(f"{who}: no {tag!r} within {timeout_s:.0f} s")
    msg = conn.recv()
    if msg[0] != tag:
        raise RuntimeError(f"{who}: expected {tag!r}, got {msg[0]!r}")
    return msg


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _loadavg() -> str:
    try:
        with open("/proc/loadavg", encoding="ascii") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "unknown"


def _lat_line(name: str, values: array) -> str:
    if not values:
        return f"  {name:<10} n/a"
    ms = sorted(v * 1000 for v in values)
    return (f"  {name:<10} p50 {pct(ms, .5):7.1f}  p90 {pct(ms, .9):7.1f}  "
            f"p99 {pct(ms, .99):7.1f}  max {ms[-1]:7.1f}  (n={len(ms)})")


def report(args: argparse.Namespace, server: dict, clients: list[dict], ready: list[dict],
           rss_idle: float, load_before: str, cpus: tuple,
           machine: str) -> tuple[str, bool]:
    """The printed report and whether the issue's target (p99 <= 100 ms) was met."""
    n_slow = round(args.viewers * args.slow_fraction)
    n_fast = args.viewers - n_slow
    lines = [
        f"Fan-out: {args.viewers} viewers ({n_fast} fast, {n_slow} slow) on {HOST}, "
        f"{args.seconds:g} s at {args.rate:g} msg/s "
        f"({args.rate / (args.partials_per_committed + 1):g} committed + "
        f"{args.rate * args.partials_per_committed / (args.partials_per_committed + 1):g}"
        f" partial per s), client_queue {args.client_queue}"
        + (f", server SO_SNDBUF {args.server_sndbuf}" if args.server_sndbuf else ""),
        f"machine: {machine}",
        f"load average: {load_before} before, {_loadavg()} after",
        f"server on CPU {cpus[0]}; {len(clients)} client process(es) on CPU(s) {cpus[1]}",
    ]
    failed: dict[str, int] = {}
    for r in ready:
        for reason, n in r["failed"].items():
            failed[reason] = failed.get(reason, 0) + n
    opened = sum(r["opened"] for r in ready)
    lines.append(f"connected: {opened}/{args.viewers} in "
                 f"{max(r['connect_s'] for r in ready):.1f} s; server saw "
                 f"{server['viewers_at_start']}"
                 + (f"; failed: {failed}" if failed else ""))
    sizes = server["sizes"]
    lines.append(f"published: {server['committed']} committed + {server['partials']} "
                 f"partial captions, {min(sizes)}-{max(sizes)} bytes each")
    fast = [v for c in clients for v in c["fast"]]
    all_c = sum(1 for c, _p, g, _x, _r in fast if c == server["committed"] and not g)
    all_p = sum(1 for _c, p, _g, _x, _r in fast if p == server["partials"])
    everything = sum(1 for c, p, g, _x, _r in fast
                     if c == server["committed"] and p == server["partials"] and not g)
    closed = [r for *_x, gone, r in fast if gone]
    lines.append(f"fast viewers that received everything: {everything}/{n_fast} "
                 f"(all committed {all_c}, all partials {all_p}; "
                 f"disconnected {len(closed)}{': ' + str(sorted(set(closed))) if closed else ''})")
    drops = server["drop_times"]
    when = (f" after {min(drops):.1f}-{max(drops):.1f} s" if drops else "")
    # Slow viewers the server let go otherwise: its keepalive (no pong within 20 s of a
    # ping) or an error.
    slow_opened = sum(c["slow_opened"] for c in clients)
    other = slow_opened - server["dropped"] - (server["viewers_at_end"]
                                               - (len(fast) - len(closed)))
    lines.append(f"slow viewers cut off by the server as too slow (queue full): "
                 f"{server['dropped']}/{n_slow}{when}; closed otherwise: "
                 f"{max(0, other)}; viewers still attached at the end: "
                 f"{server['viewers_at_end']}")
    q = server["queued"]
    lines.append("  viewers' queues: " + (
        f"first message queued {q['first_s']:.0f} s in, deepest {q['deepest']}/"
        f"{args.client_queue} (partials skipped from {args.client_queue // 2})"
        if q["first_s"] is not None else "never used (every write went straight out)"))
    lat: dict[str, array] = {}
    for c in clients:
        for name, raw in c["lat"].items():
            values = array("d")
            values.frombytes(raw)
            lat.setdefault(name, array("d")).extend(values)
    batched = sum(c["batched"] for c in clients)
    captions = sum(c["captions"] for c in clients) or 1
    lines.append("latency emit -> arrival in the viewer's socket (kernel timestamp), ms"
                 f" ({100 * batched / captions:.1f}% read together with a later caption,"
                 " for which it is an upper bound):")
    lines.append(_lat_line("committed", lat["kernel_committed"]))
    lines.append(_lat_line("partial", lat["kernel_partial"]))
    lines.append("latency emit -> read by the client process (adds the client's delay), ms:")
    lines.append(_lat_line("committed", lat["app_committed"]))
    lines.append(_lat_line("partial", lat["app_partial"]))
    publish_us = array("d")
    publish_us.frombytes(server["publish_us"])
    lateness = array("d")
    lateness.frombytes(server["lateness_ms"])
    pub = sorted(publish_us)
    late = sorted(lateness)
    per_viewer = pct(pub, .5) / max(1, server["viewers_at_start"])
    lines.append(
        f"server: CPU {100 * server['cpu_s'] / server['wall_s']:.1f}% of one core over "
        f"{server['wall_s']:.1f} s; RSS {rss_idle:.0f} MiB idle, "
        f"{server['rss_connected']:.0f} MiB with the viewers, peak {server['rss_peak']:.0f} MiB")
    lines.append(
        f"server publish(): p50 {pct(pub, .5) / 1000:.2f} ms, p99 {pct(pub, .99) / 1000:.2f} "
        f"ms, max {pub[-1] / 1000:.2f} ms per message (~{per_viewer:.1f} us per viewer); "
        f"event loop late by p50 {pct(late, .5):.1f} ms, p99 {pct(late, .99):.1f} ms, "
        f"max {late[-1]:.1f} ms")
    client_cpu = sum(c["cpu_s"] for c in clients)
    client_wall = max(c["wall_s"] for c in clients)
    lines.append(f"all processes during the run: {server['machine_busy']}")
    lines.append(f"clients: CPU {100 * client_cpu / client_wall:.1f}% of one core over "
                 f"{client_wall:.1f} s, peak RSS "
                 f"{max(c['max_rss_kb'] for c in clients) / 1024:.0f} MiB per process"
                 + (f"; {sum(c['bad_frames'] for c in clients)} unexpected frames"
                    if any(c["bad_frames"] for c in clients) else ""))
    p99 = max(pct(sorted(lat[k]), .99) for k in ("kernel_committed", "kernel_partial"))
    met = p99 * 1000 <= args.target_ms and everything == len(fast) == n_fast
    lines.append(f"target p99 <= {args.target_ms:g} ms with every fast viewer served: "
                 f"{'met' if met else 'NOT met'} (worst kernel-arrival p99 {p99 * 1000:.1f} ms)")
    if server["profile"]:
        lines.append("server profile (cProfile inflates the figures above):")
        lines.append(server["profile"])
    return "\n".join(lines), met


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.viewers", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--viewers", type=int, default=1000, help="viewers in all")
    p.add_argument("--slow-fraction", type=float, default=0.05,
                   help="share of viewers that never read after the handshake")
    p.add_argument("--seconds", type=float, default=30.0, help="how long to publish")
    p.add_argument("--rate", type=float, default=10.0, help="captions published per second")
    p.add_argument("--partials-per-committed", type=int, default=4,
                   help="partial captions before each committed one")
    p.add_argument("--client-queue", type=int, default=256,
                   help="the Broadcaster's per-viewer queue (the server's default is 256)")
    p.add_argument("--client-procs", type=int, default=1, help="viewer processes")
    p.add_argument("--slow-rcvbuf", type=int, default=4096,
                   help="SO_RCVBUF of a slow viewer's socket, bytes")
    p.add_argument("--server-sndbuf", type=int, default=0,
                   help="SO_SNDBUF of the server's sockets, bytes (0: the kernel's "
                        "autotuning, which on loopback lets a stalled viewer hold MBs)")
    p.add_argument("--connect-timeout", type=float, default=60.0,
                   help="seconds allowed to open every viewer")
    p.add_argument("--drain", type=float, default=1.5,
                   help="seconds to wait after the last message before counting")
    p.add_argument("--target-ms", type=float, default=100.0, help="the p99 target")
    p.add_argument("--server-nice", type=int, default=0,
                   help="niceness added to the server process (negative needs root; "
                        "useful on a machine shared with other work)")
    p.add_argument("--profile-server", action="store_true",
                   help="run cProfile in the server while it publishes (slows it down)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark and prints its report; 0 if the target was met, else 1."""
    args = _parser().parse_args(argv)
    if args.viewers < 1 or not 0 <= args.slow_fraction < 1 or args.seconds <= 0 \
            or args.rate <= 0 or args.client_procs < 1:
        print("error: viewers, seconds, rate and client-procs must be positive and "
              "slow-fraction in [0, 1)", file=sys.stderr)
        return 2
    raise_fd_limit(args.viewers * 2 + 256)
    load_before = _loadavg()
    machine = describe()  # before this process pins itself to fewer CPUs
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpu = cpus[0] if len(cpus) > 1 else None
    client_cpus = cpus[1:] if len(cpus) > 1 else [None]
    if client_cpus[0] is not None:
        os.sched_setaffinity(0, set(client_cpus))  # keep this process off the server's CPU
    ctx = mp.get_context("spawn")
    server_conn, child = ctx.Pipe()
    server = ctx.Process(target=_server_process, args=(child, args, server_cpu),
                         name="viewers-server", daemon=True)
    server.start()
    procs = [server]
    clients: list[tuple[mp.Process, Connection]] = []
    try:
        _, port, rss_idle = _expect(server_conn, "port", 60, "server")
        n_slow = round(args.viewers * args.slow_fraction)
        base = ClientPlan(HOST, port, 0, 0, slow_rcvbuf=args.slow_rcvbuf,
                          connect_timeout_s=args.connect_timeout,
                          run_timeout_s=args.connect_timeout + args.seconds + 120)
        for i, (fast, slow) in enumerate(zip(_split(args.viewers - n_slow, args.client_procs),
                                             _split(n_slow, args.client_procs), strict=True)):
            plan = replace(base, fast=fast, slow=slow, cpu=client_cpus[i % len(client_cpus)])
            conn, child = ctx.Pipe()
            proc = ctx.Process(target=run_client, args=(plan, child),
                               name=f"viewers-client-{i}", daemon=True)
            proc.start()
            procs.append(proc)
            clients.append((proc, conn))
        ready = [_expect(conn, "ready", args.connect_timeout + 30, "client")[1]
                 for _, conn in clients]
        server_conn.send("go")
        _, stats = _expect(server_conn, "done", args.seconds * 2 + args.drain + 60, "server")
        for _, conn in clients:
            conn.send("stop")
        results = [_expect(conn, "results", 60, "client")[1] for _, conn in clients]
        server_conn.send("stop")
        text, met = report(args, stats, results, ready, rss_idle, load_before,
                           (server_cpu, ",".join(str(c) for c in client_cpus)), machine)
        print(text)
        return 0 if met else 1
    except (TimeoutError, RuntimeError, EOFError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)


if __name__ == "__main__":
    sys.exit(main())
