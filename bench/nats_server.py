"""A real nats-server on a free loopback port with a store of its own, for the bus
benchmark and the bus tests (:mod:`tests.nats_server` adds the pytest fixtures).

The server is ready when it logs ``Server is ready``; :meth:`NatsServer.start` waits for
that line, never for a fixed time. A stopped server starts again on the same port with
the same store, as a restarted broker does.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

NATS_SERVER = shutil.which("nats-server")

MISSING = "nats-server is not installed (scripts/setup.sh --test installs it)"


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NatsServer:
    """One nats-server process on 127.0.0.1.

    Args:
        store: Its JetStream store folder (kept across restarts).
        port: Its port; a free one when not given.
        config: Extra server configuration (for example an ``authorization`` block).
        jetstream: Whether JetStream is on.
        tls: ``(certificate, key)`` files: clients must use TLS.
        env: Environment variables for the server (its config may name them: ``$NAME``).
    """

    def __init__(self, store: Path, *, port: int | None = None, config: str = "",
                 jetstream: bool = True, tls: tuple[Path, Path] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.store = store
        self.env = env or {}
        self.port = port or free_port()
        self.config = config
        self.jetstream = jetstream
        self.tls = tls
        self.log: list[str] = []
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    @property
    def process(self) -> subprocess.Popen | None:
        """The running server's process (for its CPU and memory); None when stopped."""
        return self._process

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        """Starts the server and returns once it accepts clients."""
        if NATS_SERVER is None:
            raise RuntimeError(MISSING)
        assert self._process is None, "already running"
        self.store.mkdir(parents=True, exist_ok=True)
        args = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port)]
        if self.jetstream:
            args += ["-js", "-sd", str(self.store)]
        config = self.config
        if self.tls is not None:
            cert, key = self.tls
            config += f'\ntls {{\n  cert_file: "{cert}"\n  key_file: "{key}"\n}}\n'
        if config:
            path = self.store.parent / f"nats-{self.port}.conf"
            path.write_text(config, encoding="utf-8")
            args += ["-c", str(path)]
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, **self.env})
        ready = threading.Event()

        def read() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                self.log.append(line.rstrip())
                if "Server is ready" in line:
                    ready.set()
            ready.set()  # exited: start() reports it

        self._reader = threading.Thread(target=read, name="nats-server-log", daemon=True)
        self._reader.start()
        self._process = process
        if not ready.wait(timeout_s) or process.poll() is not None:
            self.stop()
            raise RuntimeError("nats-server did not start:\n" + "\n".join(self.log[-20:]))

    def stop(self) -> None:
        """Stops the server (SIGTERM: it closes its store cleanly) and waits for it."""
        process, self._process = self._process, None
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

    def kill(self) -> None:
        """Kills the server (SIGKILL: a crash, nothing flushed) and waits for it."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        self.stop()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None
