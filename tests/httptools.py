"""Raw HTTP for the server tests: requests go out exactly as written."""

from __future__ import annotations

import asyncio

TIMEOUT_S = 10.0


async def http_get(port: int, target: str,
                   method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """A raw HTTP/1.1 GET: the target goes out exactly as given (no normalisation)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        await writer.drain()
        async with asyncio.timeout(TIMEOUT_S):
            raw = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body
