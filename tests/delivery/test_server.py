"""The caption server with real websocket clients: catch-up on joining and returning, slow
viewers cut off, and the HTTP routes (the broadcaster alone: ``test_broadcast.py``)."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State

from captioner.delivery.broadcast import Broadcaster
from captioner.delivery.server import WRITE_LIMIT, CaptionServer
from captioner.delivery.wire import PROTOCOL_VERSION
from tests.delivery.test_broadcast import cap, status
from tests.httptools import http_get

TIMEOUT_S = 10.0


@pytest.fixture
async def served():
    """A broadcaster and a started server on a free loopback port."""
    broadcaster = Broadcaster(client_queue=8, max_clients=3)
    server = CaptionServer(broadcaster, host="127.0.0.1", port=0,
                           health=lambda: {"pipeline": "running"})
    await server.start()
    try:
        yield server, broadcaster
    finally:
        await server.close()


def ws_url(server: CaptionServer, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/ws{query}"


async def recv_json(ws: ClientConnection) -> dict:
    async with asyncio.timeout(TIMEOUT_S):
        return json.loads(await ws.recv())


async def recv_until(ws: ClientConnection, pred) -> list[dict]:
    """Messages received up to and including the first one for which ``pred`` is true."""
    out = []
    while True:
        msg = await recv_json(ws)
        out.append(msg)
        if pred(msg):
            return out


async def test_late_joiner_catches_up_then_gets_live_messages(served):
    server, b = served
    b.publish(status("translation_unavailable", lang="en"))
    b.publish(cap(1, "ru", "Добрый день."))
    b.publish(cap(2, "en", "Good afternoon.", source="machine"))
    b.publish(cap(None, "ru", "Сегодня мы", final=False, id="u3"))
    async with connect(ws_url(server)) as ws:
        hello = await recv_json(ws)
        assert hello["type"] == "hello" and hello["protocol"] == PROTOCOL_VERSION
        assert hello["last_seq"] == 2 and hello["tracks"] == ["ru", "en"]
        assert hello["session"] == b.session
        st, c1, c2, partial = [await recv_json(ws) for _ in range(4)]
        assert st["type"] == "status" and st["state"] == "translation_unavailable"
        for msg, seq, lang in ((c1, 1, "ru"), (c2, 2, "en")):
            assert {"type", "final", "lang", "text", "start_s", "end_s", "seq",
                    "source"} <= msg.keys()
            assert msg["type"] == "caption" and msg["final"] is True
            assert (msg["seq"], msg["lang"]) == (seq, lang)
        assert c1["text"] == "Добрый день." and c2["source"] == "machine"
        assert partial["final"] is False and partial["id"] == "u3"
        b.publish(cap(3, "ru", "Сегодня мы обсуждаем климат.", id="u3"))
        live = await recv_json(ws)
        assert (live["seq"], live["id"], live["final"]) == (3, "u3", True)


async def test_reconnect_with_since_resumes_without_duplicates(served):
    server, b = served
    for seq in range(1, 4):
        b.publish(cap(seq, "ru" if seq % 2 else "en"))
    async with connect(ws_url(server)) as ws:
        msgs = await recv_until(ws, lambda m: m.get("seq") == 3)
    seen = [m["seq"] for m in msgs if m["type"] == "caption"]
    session = msgs[0]["session"]
    assert seen == [1, 2, 3]
    b.publish(cap(4))
    b.publish(cap(5, "ru"))
    async with connect(ws_url(server, f"?since={seen[-1]}&session={session}")) as ws:
        hello = await recv_json(ws)
        assert hello["since"] == 3
        resumed = await recv_until(ws, lambda m: m.get("seq") == 5)
        b.publish(cap(6))
        resumed.append(await recv_json(ws))
    seen += [m["seq"] for m in resumed]
    assert seen == [1, 2, 3, 4, 5, 6]


async def test_resume_point_from_another_session_gets_the_whole_history(served):
    server, b = served
    for seq in range(1, 4):
        b.publish(cap(seq))
    async with connect(ws_url(server, "?since=2&session=oldsession")) as ws:
        hello = await recv_json(ws)
        assert hello["since"] is None and hello["session"] != "oldsession"
        got = await recv_until(ws, lambda m: m.get("seq") == 3)
    assert [m["seq"] for m in got] == [1, 2, 3]


async def test_slow_client_is_cut_off_while_the_fast_one_keeps_up(served):
    server, b = served  # client_queue=8
    payload = "x" * 64_000
    async with connect(ws_url(server), max_size=None) as fast, \
            connect(ws_url(server), max_size=None, max_queue=1) as slow:
        assert (await recv_json(fast))["type"] == "hello"
        seq = 0
        # The slow client never reads: its socket buffers fill, then its queue, and it is
        # cut off. Each message is published only once the fast client has the last one,
        # so the fast client never has more than one message queued.
        while b.dropped_viewers == 0:
            seq += 1
            assert seq < 5000, "the stalled client was never cut off"
            b.publish(cap(seq, text=f"{seq} {payload}"))
            msg = await recv_json(fast)
            assert msg["seq"] == seq
        assert b.viewer_count == 1
        for extra in range(seq + 1, seq + 4):
            b.publish(cap(extra, text="still live"))
            assert (await recv_json(fast))["seq"] == extra
        # The slow client finds its connection closed once it reads what it had.
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(TIMEOUT_S):
                async for _ in slow:
                    pass


async def test_viewer_input_is_ignored_and_never_broadcast(served):
    server, b = served
    async with connect(ws_url(server)) as talker, connect(ws_url(server)) as listener:
        await recv_json(talker)
        await recv_json(listener)
        fake = {"type": "caption", "final": True, "lang": "en", "text": "injected", "seq": 99,
                "start_s": 0, "end_s": 1, "source": "floor", "id": "x"}
        await talker.send(json.dumps(fake))
        await talker.send("not json at all {")
        await talker.send(b"\x00\xff binary")
        await talker.send(json.dumps({"type": "control", "action": "pause"}))
        b.publish(cap(1, text="real"))
        for ws in (talker, listener):
            msg = await recv_json(ws)
            assert (msg["seq"], msg["text"]) == (1, "real")
        assert b.last_seq == 1


async def test_oversized_viewer_message_closes_that_connection_only(served):
    server, b = served
    async with connect(ws_url(server), max_size=None) as big, connect(ws_url(server)) as other:
        await recv_json(big)
        await recv_json(other)
        await big.send("x" * 10_000)
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(TIMEOUT_S):
                while True:
                    await big.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        b.publish(cap(1))
        assert (await recv_json(other))["seq"] == 1


async def test_viewers_over_the_limit_are_refused_with_503(served):
    server, b = served  # max_clients=3
    async with connect(ws_url(server)) as a, connect(ws_url(server)) as c, \
            connect(ws_url(server)) as d:
        for ws in (a, c, d):
            await recv_json(ws)
        assert b.viewer_count == 3
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(server)):
                pass
        assert refused.value.response.status_code == 503
    # Room again once they have gone (the server side finishes just after the clients).
    async with asyncio.timeout(TIMEOUT_S):
        while b.viewer_count:  # noqa: ASYNC110 - a condition polled under a timeout
            await asyncio.sleep(0.01)
    async with connect(ws_url(server)) as ws:
        assert (await recv_json(ws))["type"] == "hello"


async def test_healthz_is_json(served):
    server, b = served
    code, headers, body = await http_get(server.port, "/healthz")
    assert code == 200 and headers["content-type"] == "application/json"
    health = json.loads(body)
    assert health["status"] == "ok" and health["protocol"] == PROTOCOL_VERSION
    assert health["viewers"] == 0 and health["pipeline"] == "running"


async def test_healthz_reports_a_failing_health_callback():
    def broken() -> dict:
        raise RuntimeError("boom")

    server = CaptionServer(Broadcaster(), host="127.0.0.1", port=0, health=broken)
    await server.start()
    try:
        code, _, body = await http_get(server.port, "/healthz")
    finally:
        await server.close()
    assert code == 503 and json.loads(body)["status"] == "error"


@pytest.mark.parametrize("path,ctype", [
    ("/", "text/html"), ("/screen", "text/html"), ("/overlay?lang=en", "text/html"),
    ("/feed.js", "text/javascript"), ("/base.css", "text/css"),
])
async def test_views_are_served(served, path, ctype):
    server, _ = served
    code, headers, body = await http_get(server.port, path)
    assert code == 200 and headers["content-type"].startswith(ctype)
    assert headers["x-content-type-options"] == "nosniff"
    if ctype == "text/html":
        assert "script-src 'self'" in headers["content-security-policy"]
        assert b"<!doctype html>" in body.lower()


@pytest.mark.parametrize("path", [
    "/nope", "/index.htm", "/ws/extra", "/../pyproject.toml", "/%2e%2e/pyproject.toml",
    "/..%2fpyproject.toml", "/web_overlay/../pyproject.toml", "//etc/passwd",
    "/../captioner/delivery/server.py", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
])
async def test_unknown_paths_and_traversal_are_404(served, path):
    server, _ = served
    code, _, body = await http_get(server.port, path)
    assert code == 404
    assert b"[project]" not in body and b"root:" not in body and b"import" not in body


async def test_only_get_and_head_are_served(served):
    server, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(TIMEOUT_S):
            raw = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    assert raw.startswith(b"HTTP/1.1 405 ")
    code, headers, body = await http_get(server.port, "/healthz", method="HEAD")
    assert code == 200 and body == b"" and int(headers["content-length"]) > 0


async def test_qr_code_of_the_phone_view(served):
    pytest.importorskip("qrcode")
    server, _ = served
    code, headers, body = await http_get(server.port, "/qr.svg")
    assert code == 200 and headers["content-type"] == "image/svg+xml"
    assert b"<svg" in body[:200]
    code, _, body = await http_get(server.port, "/urls.json")
    assert code == 200 and json.loads(body)["phone"] == f"http://127.0.0.1:{server.port}/"


async def test_urls_use_a_lan_address_for_a_wildcard_bind():
    server = CaptionServer(Broadcaster(), host="0.0.0.0", port=0)
    await server.start()
    try:
        urls = server.urls()
    finally:
        await server.close()
    assert set(urls) == {"phone", "screen", "overlay", "ws"}
    assert "0.0.0.0" not in urls["phone"] and f":{server.port}/" in urls["phone"]
    assert urls["ws"].startswith("ws://") and urls["ws"].endswith("/ws")


async def test_close_does_not_hang_on_a_stalled_client():
    import socket

    b = Broadcaster(client_queue=1000)
    server = CaptionServer(b, host="127.0.0.1", port=0)
    await server.start()
    stalled = await connect(ws_url(server), max_size=None, max_queue=1)
    try:
        stalled.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        assert (await recv_json(stalled))["type"] == "hello"  # the viewer is attached
        (viewer,) = server._connections
        # Fill the stalled client's socket so that a close frame cannot reach it: the
        # kernel's buffers are full once the server's transport holds bytes it could not
        # send, and past WRITE_LIMIT the server waits for the socket to drain.
        seq = 0
        while viewer.transport.get_write_buffer_size() < WRITE_LIMIT:
            seq += 1
            assert seq < 500, "the stalled client's socket never filled"
            b.publish(cap(seq, text="y" * 64_000))
            await asyncio.sleep(0)
        assert viewer.state is State.OPEN and b.viewer_count == 1
        async with asyncio.timeout(TIMEOUT_S):
            await server.close()
        # The close frame never got through the full socket (1006: no closing
        # handshake), so the server cut the connection instead of waiting on it.
        assert viewer.state is State.CLOSED and viewer.close_code == 1006
        assert not server._connections
        assert b.viewer_count == 0
    finally:
        stalled.transport.abort()
        await stalled.wait_closed()


async def test_stalled_viewer_is_cut_off_by_time_even_with_room_in_its_queue():
    """A viewer that stops reading is dropped after stall_s, not only when its queue is full."""
    import socket

    broadcaster = Broadcaster(client_queue=100_000, max_clients=3)
    server = CaptionServer(broadcaster, host="127.0.0.1", port=0, stall_s=1.0)
    await server.start()
    try:
        async with connect(ws_url(server), max_size=None, max_queue=1) as stalled:
            stalled.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            seq = 0
            payload = "y" * 60_000
            async with asyncio.timeout(30):
                # Publish until the server gives up on the viewer that never reads.
                while broadcaster.viewer_count:
                    seq += 1
                    broadcaster.publish(cap(seq, text=f"{seq} {payload}"))
                    await asyncio.sleep(0.01)
            assert broadcaster.dropped_viewers == 0  # its queue never filled
            # The server has closed (or aborted) the connection on its side.
            async with asyncio.timeout(TIMEOUT_S):
                while server._connections:  # noqa: ASYNC110 (polling a library's state)
                    await asyncio.sleep(0.05)
    finally:
        await server.close()
