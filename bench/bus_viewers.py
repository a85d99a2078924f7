"""Viewers of many rooms on many edges, for the bus benchmark (:mod:`bench.bus`).

Where the viewers go (:class:`Scenario`, :func:`plan_viewers`), and the process that
holds them: the swarm of :mod:`bench.viewer_client` (raw sockets, one ``epoll``, kernel
receive timestamps), with three things added: each viewer connects to the port of its
own room on its own edge (a :class:`Target`), latencies are kept by edge, and the process
takes a ``"measure"`` command after the warm-up, from which its latencies count.
Everything else (the handshake, the frame parser, what a slow viewer does) is
:class:`bench.viewer_client.Swarm`'s.
"""

from __future__ import annotations

import base64
import errno
import os
import select
import socket
from array import array
from dataclasses import dataclass
from multiprocessing.connection import Connection

from bench.viewer_client import SO_TIMESTAMPNS, ClientPlan, Swarm, _Viewer, serve_parent


@dataclass(frozen=True)
class Target:
    """Where one viewer connects: a room's caption server on one edge."""

    port: int
    room: int
    edge: int


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


class RoomSwarm(Swarm):
    """A :class:`Swarm` whose viewers each watch their own room on their own edge.

    Args:
        plan: How to connect; its ``fast`` and ``slow`` must be the lengths of the two
            target lists (its ``port`` is not used).
        fast_targets: Where each fast viewer connects.
        slow_targets: Where each slow viewer connects.
    """

    def __init__(self, plan: ClientPlan, fast_targets: list[Target],
                 slow_targets: list[Target]) -> None:
        if (plan.fast, plan.slow) != (len(fast_targets), len(slow_targets)):
            raise ValueError("the plan's fast and slow counts must match the targets")
        super().__init__(plan)
        # Popped from the end: reversed, so that viewers connect in the order given.
        self._todo = {False: list(reversed(fast_targets)), True: list(reversed(slow_targets))}
        self.target_of: dict[_Viewer, Target] = {}
        self._names = tuple(self.lat)
        # Latencies by edge: Swarm._message appends to self.lat, pointed at the edge's.
        self.lat_by_edge: dict[int, dict[str, array]] = {}
        self._marks: dict[int, dict[str, int]] = {}
        self._marked = (0, 0)

    def _start(self, slow: bool) -> None:
        # Swarm._start, connecting to this viewer's own target.
        target = self._todo[slow].pop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if slow:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.plan.slow_rcvbuf)
        else:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        viewer = _Viewer(sock, slow, base64.b64encode(os.urandom(16)))
        self.target_of[viewer] = target
        err = sock.connect_ex((self.plan.host, target.port))
        if err not in (0, errno.EINPROGRESS):
            self._fail(viewer, errno.errorcode.get(err, str(err)), registered=False)
            return
        self.viewers[sock.fileno()] = viewer
        self.epoll.register(sock.fileno(), select.EPOLLOUT)
        self.in_flight += 1

    def _message(self, viewer: _Viewer, payload: bytes, t_app: float,
                 t_kernel: float) -> None:
        edge = self.target_of[viewer].edge
        lat = self.lat_by_edge.get(edge)
        if lat is None:
            lat = self.lat_by_edge[edge] = {name: array("d") for name in self._names}
        self.lat = lat
        super()._message(viewer, payload, t_app, t_kernel)

    def mark(self) -> None:
        """Starts the measurement: latencies received before now are the warm-up's."""
        self._marks = {edge: {name: len(values) for name, values in lat.items()}
                       for edge, lat in self.lat_by_edge.items()}
        self._marked = (self.batched, self.captions)

    def _measured(self, edge: int, name: str) -> array:
        return self.lat_by_edge[edge][name][self._marks.get(edge, {}).get(name, 0):]

    def results(self) -> dict:
        """:meth:`Swarm.results` over the measured part, with each fast viewer's room and
        the latencies by edge as well as together."""
        out = super().results()
        edges = sorted(self.lat_by_edge)
        out["lat_by_edge"] = {edge: {name: self._measured(edge, name).tobytes()
                                     for name in self._names} for edge in edges}
        out["lat"] = {name: b"".join(out["lat_by_edge"][edge][name] for edge in edges)
                      for name in self._names}
        out["batched"] = self.batched - self._marked[0]
        out["captions"] = self.captions - self._marked[1]
        fast = [v for v in self.viewers.values() if not v.slow]  # Swarm.results' order
        out["fast_targets"] = [(self.target_of[v].edge, self.target_of[v].room) for v in fast]
        return out


def run(conn: Connection, plan: ClientPlan, fast_targets: list[Target],
        slow_targets: list[Target], nice: int = 0) -> None:
    """Entry point of a viewer process.

    Protocol with the parent, over ``conn``: this process sends ``("ready", info)`` once
    connected; ``"measure"`` starts the measurement (latencies and this process's CPU
    count from then on); ``"stop"`` (or the plan's run time) ends it, answered with
    ``("results", dict)``.
    """
    if plan.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {plan.cpu})
    if nice:
        # Below the edges and the bus: a viewer process that waits is stamped by the
        # kernel anyway (its latencies are receive times), one that takes the CPU from
        # an edge makes the edge late.
        os.nice(nice)
    swarm = RoomSwarm(plan, fast_targets, slow_targets)
    serve_parent(swarm, plan, conn, on_measure=swarm.mark)


def lag_ms(results: list[dict]) -> array:
    """How long each measured caption waited in its socket before its viewer process read
    it (application read time minus kernel receive time), in ms: a viewer process that
    falls behind shows here first."""
    out = array("d")
    for result in results:
        for kind in ("committed", "partial"):
            app, kernel = array("d"), array("d")
            app.frombytes(result["lat"][f"app_{kind}"])
            kernel.frombytes(result["lat"][f"kernel_{kind}"])
            out.extend((a - k) * 1000 for a, k in zip(app, kernel, strict=True)
                       if k == k)  # NaN: no kernel timestamp
    return out
