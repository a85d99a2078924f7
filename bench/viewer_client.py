"""A cheap swarm of websocket viewers for the fan-out benchmark (:mod:`bench.viewers`).

One process holds many viewer connections on plain non-blocking sockets and one
``epoll``; there are no asyncio tasks, no websockets library and no per-connection
coroutine, so the viewers cost little next to the server being measured. It does the
HTTP upgrade itself and parses the server's frames with a few lines (server frames are
unmasked; lengths of 7, 16 or 64 bits); it answers pings (the server drops clients that
do not) and the close handshake.

Two kinds of viewers:

* fast viewers read everything. Every read is stamped twice: by the kernel when the
  bytes reached the socket (``SO_TIMESTAMPNS``), and with ``time.time()`` when this
  process read them. The first is the server's latency alone; the second adds this
  process's own delay in working through a burst of a thousand sockets.
* slow viewers do the handshake on a socket with a tiny receive buffer and then never
  read again, so the server's buffers for them fill up and it should cut them off.

Latency is receipt time minus the message's ``emitted_at`` (Unix seconds, set by the
server process just before it published the message).
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import resource
import select
import socket
import struct
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

#: Linux's ``SO_TIMESTAMPNS`` (= ``SCM_TIMESTAMPNS``); the socket module does not name it.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_READ_BYTES = 65536

# Connection states.
_CONNECTING, _HANDSHAKE, _OPEN, _CLOSED = range(4)


@dataclass(frozen=True)
class ClientPlan:
    """What one client process is asked to do.

    Attributes:
        host: Server address (loopback).
        port: Server port.
        fast: Viewers that read everything.
        slow: Viewers that stop reading after the handshake.
        cpu: CPU to pin this process to, or ``None``.
        slow_rcvbuf: ``SO_RCVBUF`` of a slow viewer's socket, bytes.
        connect_timeout_s: Time allowed for all connections and handshakes.
        run_timeout_s: Longest the process waits for its stop command once connected.
        window: Handshakes in flight at once (the server's listen backlog is ~100).
    """

    host: str
    port: int
    fast: int
    slow: int
    cpu: int | None = None
    slow_rcvbuf: int = 4096
    connect_timeout_s: float = 60.0
    run_timeout_s: float = 600.0
    window: int = 64


class _Viewer:
    """One connection and what it has received."""

    __slots__ = ("sock", "slow", "state", "buf", "key", "last_seq", "committed",
                 "partials", "gaps", "other", "close_code", "reason")

    def __init__(self, sock: socket.socket, slow: bool, key: bytes) -> None:
        self.sock = sock
        self.slow = slow
        self.state = _CONNECTING
        self.buf = bytearray()
        self.key = key
        self.last_seq: int | None = None
        self.committed = 0
        self.partials = 0
        self.gaps = 0
        self.other = 0
        self.close_code: int | None = None
        self.reason = ""


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (clients must mask), for the short control frames we send."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + body


def _kernel_time(ancdata: list) -> float:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return sec + nsec / 1e9
    return float("nan")


class Swarm:
    """The viewers of one process and their measurements.

    Args:
        plan: What to connect and how.
    """

    def __init__(self, plan: ClientPlan) -> None:
        self.plan = plan
        self.epoll = select.epoll()
        self.viewers: dict[int, _Viewer] = {}
        self.in_flight = 0
        self.opened = 0
        self.failed: dict[str, int] = {}
        # Latencies in seconds: kernel arrival and application read, committed/partial.
        self.lat = {name: array("d") for name in
                    ("kernel_committed", "kernel_partial", "app_committed", "app_partial")}
        self.bad_frames = 0
        # Captions read together with a later one: the kernel stamps a read with the
        # arrival of its last segment (and coalesces segments that wait in the socket),
        # so for these the kernel time is an upper bound. Many of them mean that this
        # process fell behind (a starved CPU), not the server.
        self.batched = 0
        self.captions = 0

    # Connecting

    def _start(self, slow: bool) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if slow:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.plan.slow_rcvbuf)
        else:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        key = base64.b64encode(os.urandom(16))
        viewer = _Viewer(sock, slow, key)
        err = sock.connect_ex((self.plan.host, self.plan.port))
        if err not in (0, errno.EINPROGRESS):
            self._fail(viewer, errno.errorcode.get(err, str(err)), registered=False)
            return
        self.viewers[sock.fileno()] = viewer
        self.epoll.register(sock.fileno(), select.EPOLLOUT)
        self.in_flight += 1

    def _fail(self, viewer: _Viewer, reason: str, registered: bool = True) -> None:
        self.failed[reason] = self.failed.get(reason, 0) + 1
        if registered:
            self.in_flight -= 1
            self._forget(viewer)
        else:
            viewer.sock.close()

    def _forget(self, viewer: _Viewer) -> None:
        fd = viewer.sock.fileno()
        if fd >= 0:
            try:
                self.epoll.unregister(fd)
            except (OSError, ValueError):
                pass
            self.viewers.pop(fd, None)
        viewer.sock.close()

    def _on_connected(self, viewer: _Viewer) -> None:
        err = viewer.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._fail(viewer, errno.errorcode.get(err, str(err)))
            return
        request = (f"GET /ws HTTP/1.1\r\nHost: {self.plan.host}:{self.plan.port}\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {viewer.key.decode()}\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode()
        viewer.sock.send(request)  # a few hundred bytes into an empty buffer
        viewer.state = _HANDSHAKE
        self.epoll.modify(viewer.sock.fileno(), select.EPOLLIN)

    def _on_handshake(self, viewer: _Viewer, data: bytes) -> None:
        viewer.buf += data
        end = viewer.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(viewer.buf) > 16384:
                self._fail(viewer, "oversized response")
            return
        head = bytes(viewer.buf[:end]).decode("latin-1")
        del viewer.buf[:end + 4]
        status = head.split("\r\n", 1)[0]
        if not status.startswith("HTTP/1.1 101"):
            self._fail(viewer, status.strip()[:40] or "empty response")
            return
        accept = base64.b64encode(hashlib.sha1(viewer.key + _WS_GUID).digest()).decode()
        if f"sec-websocket-accept: {accept}".lower() not in head.lower():
            self._fail(viewer, "bad Sec-WebSocket-Accept")
            return
        viewer.state = _OPEN
        self.in_flight -= 1
        self.opened += 1
        if viewer.slow:
            # Never read again: the socket's small receive buffer fills, then the
            # server's send buffer, then its queue for this viewer.
            self.epoll.unregister(viewer.sock.fileno())
            return
        if viewer.buf:
            self._frames(viewer, time.time(), float("nan"))

    def connect(self) -> float:
        """Opens every viewer; returns the seconds it took."""
        started = time.monotonic()
        deadline = started + self.plan.connect_timeout_s
        total = self.plan.fast + self.plan.slow
        # Slow viewers spread evenly through the connection order.
        todo = [i * self.plan.slow // total != (i + 1) * self.plan.slow // total
                for i in range(total)][::-1]
        while (todo or self.in_flight) and time.monotonic() < deadline:
            while todo and self.in_flight < self.plan.window:
                self._start(todo.pop())
            self._poll(0.05)
        for viewer in list(self.viewers.values()):
            if viewer.state in (_CONNECTING, _HANDSHAKE):
                self._fail(viewer, "timed out")
        if todo:
            self.failed["not attempted (timeout)"] = len(todo)
        return time.monotonic() - started

    # Running

    def _poll(self, timeout: float) -> list[tuple[int, int]]:
        """One round of the event loop; returns events for fds that are not viewers."""
        foreign = []
        for fd, mask in self.epoll.poll(timeout):
            viewer = self.viewers.get(fd)
            if viewer is None:
                foreign.append((fd, mask))
                continue
            if viewer.state == _CONNECTING:
                self._on_connected(viewer)
                continue
            try:
                data, ancdata, _flags, _addr = viewer.sock.recvmsg(_READ_BYTES, 64)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                if viewer.state == _HANDSHAKE:
                    self._fail(viewer, errno.errorcode.get(exc.errno or 0, str(exc)))
                else:
                    self._closed(viewer, f"error {exc.errno}")
                continue
            if not data:
                if viewer.state == _HANDSHAKE:
                    self._fail(viewer, "closed during handshake")
                else:
                    self._closed(viewer, "EOF")
                continue
            if viewer.state == _HANDSHAKE:
                self._on_handshake(viewer, data)
            else:
                viewer.buf += data
                self._frames(viewer, time.time(), _kernel_time(ancdata))
        return foreign

    def _closed(self, viewer: _Viewer, reason: str) -> None:
        viewer.state = _CLOSED
        viewer.reason = viewer.reason or reason
        fd = viewer.sock.fileno()
        try:
            self.epoll.unregister(fd)
        except (OSError, ValueError):
            pass

    def _frames(self, viewer: _Viewer, t_app: float, t_kernel: float) -> None:
        buf = viewer.buf
        pos = 0
        size = len(buf)
        texts = 0
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 4], "big")
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 10], "big")
                head = 10
            if size - pos < head + length:
                break
            payload = bytes(buf[pos + head:pos + head + length])
            pos += head + length
            if b1 & 0x80 or not b0 & 0x80:  # masked, or fragmented: not what we expect
                self.bad_frames += 1
                continue
            opcode = b0 & 0x0F
            if opcode == 1:
                texts += 1
                self._message(viewer, payload, t_app, t_kernel)
            elif opcode == 9:  # ping
                self._send(viewer, _masked_frame(0xA, payload))
            elif opcode == 8:  # close: answer it, then stop reading
                viewer.close_code = int.from_bytes(payload[:2], "big") if payload else 1005
                viewer.reason = f"close {viewer.close_code}"
                self._send(viewer, _masked_frame(0x8, payload[:2]))
                self._closed(viewer, viewer.reason)
                break
        del buf[:pos]
        if texts > 1:
            self.batched += texts - 1

    def _send(self, viewer: _Viewer, frame: bytes) -> None:
        try:
            viewer.sock.send(frame)
        except OSError:
            pass

    def _message(self, viewer: _Viewer, payload: bytes, t_app: float,
                 t_kernel: float) -> None:
        msg = json.loads(payload)
        emitted = msg.get("emitted_at")
        if msg.get("type") != "caption" or emitted is None:
            viewer.other += 1
            return
        self.captions += 1
        if msg.get("final"):
            seq = msg.get("seq")
            if viewer.last_seq is not None and seq != viewer.last_seq + 1:
                viewer.gaps += 1
            viewer.last_seq = seq
            viewer.committed += 1
            self.lat["kernel_committed"].append(t_kernel - emitted)
            self.lat["app_committed"].append(t_app - emitted)
        else:
            viewer.partials += 1
            self.lat["kernel_partial"].append(t_kernel - emitted)
            self.lat["app_partial"].append(t_app - emitted)

    def results(self) -> dict:
        """What the parent needs: per-viewer counts and the raw latencies."""
        fast = [v for v in self.viewers.values() if not v.slow]
        return {
            "opened": self.opened,
            "failed": dict(self.failed),
            "fast": [(v.committed, v.partials, v.gaps, v.state == _CLOSED, v.reason)
                     for v in fast],
            "slow_opened": sum(1 for v in self.viewers.values() if v.slow),
            "bad_frames": self.bad_frames,
            "batched": self.batched,
            "captions": self.captions,
            "lat": {name: values.tobytes() for name, values in self.lat.items()},
        }

    def close(self) -> None:
        """Closes every socket (abruptly: the benchmark is over)."""
        for viewer in list(self.viewers.values()):
            self._forget(viewer)
        self.epoll.close()


def run(plan: ClientPlan, conn: Connection) -> None:
    """Entry point of a client process.

    Protocol with the parent, over ``conn``: this process sends ``("ready", info)``
    once connected, then reads until it receives ``"stop"`` (or its run time is up),
    and sends ``("results", dict)``.
    """
    if plan.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {plan.cpu})
    serve_parent(Swarm(plan), plan, conn)


def serve_parent(swarm: Swarm, plan: ClientPlan, conn: Connection,
                 on_measure: Callable[[], None] | None = None) -> None:
    """Connects ``swarm``'s viewers, says ``("ready", info)`` over ``conn``, reads until
    the parent says ``"stop"`` (or ``plan.run_timeout_s`` is up) and sends
    ``("results", dict)``, with this process's CPU and wall seconds since it was ready,
    or since the parent's ``"measure"`` (which also calls ``on_measure``). Closes the
    swarm either way."""
    try:
        connect_s = swarm.connect()
        conn.send(("ready", {"opened": swarm.opened, "failed": dict(swarm.failed),
                             "connect_s": connect_s}))
        swarm.epoll.register(conn.fileno(), select.EPOLLIN)
        cpu0, wall0 = _cpu_s(), time.monotonic()
        deadline = wall0 + plan.run_timeout_s
        stop = False
        while not stop and time.monotonic() < deadline:
            for fd, _mask in swarm._poll(0.5):
                while fd == conn.fileno() and not stop and conn.poll():
                    command = conn.recv()
                    if command == "measure" and on_measure is not None:
                        on_measure()
                        cpu0, wall0 = _cpu_s(), time.monotonic()
                    elif command == "stop":
                        stop = True
                if stop:
                    break
        cpu_s, wall_s = _cpu_s() - cpu0, time.monotonic() - wall0
        out = swarm.results()
        out.update(cpu_s=cpu_s, wall_s=wall_s,
                   max_rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        conn.send(("results", out))
    finally:
        swarm.close()
