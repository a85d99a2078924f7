"""A real nats-server for the bus tests: the fixtures around :mod:`bench.nats_server`
(a free loopback port, a temporary store), and TLS certificates."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench.nats_server import MISSING, NATS_SERVER, NatsServer


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for 127.0.0.1 signed by it: ``(ca, cert, key)``.

    Skips the test when the openssl command is missing.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed (it makes the TLS test's certificates)")
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, csr = folder / "server.pem", folder / "server.key", folder / "server.csr"
    extensions = folder / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n", encoding="utf-8")
    for args in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
         "-days", "2", "-subj", "/CN=captioner test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", extensions],
    ):
        subprocess.run([openssl, *map(str, args)], check=True, capture_output=True)
    return ca, cert, key


def require_nats_server() -> None:
    if NATS_SERVER is None:
        pytest.skip(MISSING)


@pytest.fixture
def nats_server(tmp_path):
    """A running nats-server with JetStream, stopped after the test."""
    require_nats_server()
    server = NatsServer(tmp_path / "nats-store")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def nats_factory(tmp_path):
    """Builds servers (not started) that are stopped after the test."""
    require_nats_server()
    servers: list[NatsServer] = []

    def build(name: str = "nats-store", **kwargs) -> NatsServer:
        server = NatsServer(tmp_path / name, **kwargs)
        servers.append(server)
        return server

    yield build
    for server in servers:
        server.stop()
