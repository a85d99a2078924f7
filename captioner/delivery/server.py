"""The caption server: the views over HTTP and the caption feed over WebSocket, on one port.

One :class:`CaptionServer` answers plain HTTP GETs (the views in ``web_overlay/``,
``/healthz``, ``/qr.svg``, ``/urls.json``) from the websocket handshake's
``process_request`` hook, and serves the read-only caption feed at ``/ws``. The fan-out
and catch-up logic lives in :mod:`captioner.delivery.broadcast`, the HTTP answers (the web
root, headers, view URLs, QR codes) in :mod:`captioner.delivery.views`; this module routes
requests and moves bytes.

Other components add their own paths with :meth:`CaptionServer.add_route` (HTTP),
:meth:`CaptionServer.add_ws_route` (websocket) and :meth:`CaptionServer.add_health`
(``/healthz`` fields); the viewer feed ``/ws`` stays read-only whatever is added.

How one viewer's connection is served (:func:`feed_viewer`, :func:`send_viewer`: the
backlog, the queue, the stall watch, the cut-off) is shared with a serving edge's server
(:mod:`captioner.delivery.edgeserver`), which serves many rooms' views from one port.

The protocol is described in ``docs/protocol.md``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from captioner.delivery.broadcast import Broadcaster, TooManyViewers, Viewer
from captioner.delivery.views import (
    CONTENT_TYPES,
    DEFAULT_WEB_ROOT,
    ROUTES,
    StaticFile,
    http_response,
    json_response,
    load_web_root,
    static_response,
    svg_qr,
    text_response,
    view_urls,
)
from captioner.delivery.wire import PROTOCOL_VERSION

logger = logging.getLogger(__name__)

#: Largest message a viewer may send; anything bigger closes the connection (1009).
MAX_VIEWER_MESSAGE = 4096
#: Seconds a cut-off or closing viewer gets to take its close frame before the socket
#: is aborted (a stalled client never drains its socket).
CLOSE_TIMEOUT_S = 1.0

#: Bytes a viewer's socket may hold unsent before its messages wait in its queue.
WRITE_LIMIT = 32 * 1024

# A viewer whose socket has not taken a byte for this long is cut off even if its queue
# has room: on a real network the kernel's buffers fill long before the queue does, and
# the websocket library's keepalive cannot close a connection whose writes are stuck.
STALL_S = 10.0
CLOSE_TOO_SLOW = 1013  # "try again later": the client reconnects and resumes
CLOSE_GOING_AWAY = 1001


#: The websocket server's settings, the same for every server of the views.
SERVE_OPTIONS: dict[str, Any] = {
    "max_size": MAX_VIEWER_MESSAGE,
    "max_queue": 4,
    "compression": None,  # compressing once per viewer would cost N times the CPU
    "close_timeout": CLOSE_TIMEOUT_S,
    "write_limit": WRITE_LIMIT,
    "ping_interval": 20,
    "ping_timeout": 20,
}


def parse_since(query: str) -> tuple[int | None, str | None]:
    """A viewer's resume point from its URL's query: ``(since, session)``, each None when
    absent or malformed."""
    params = parse_qs(query, max_num_fields=8)
    since: int | None = None
    raw = (params.get("since") or [""])[0]
    if raw.isdigit() and len(raw) < 19:
        since = int(raw)
    session = (params.get("session") or [None])[0]
    if session is not None and not (len(session) <= 64 and session.isalnum()):
        session = None
    return since, session


def write_now(ws: ServerConnection, data: bytes) -> bool:
    """Writes one text message without waiting, if the socket's buffer has room."""
    if ws.state is not State.OPEN or ws.transport.get_write_buffer_size() >= WRITE_LIMIT:
        return False
    broadcast((ws,), data, text=True)
    return True


#: Answers one HTTP GET of an added route.
HttpHandler = Callable[[Request], Response]
#: Checks a websocket handshake: a response refuses it, None lets it go on.
HandshakeCheck = Callable[[ServerConnection, Request], Response | None]
#: Serves one websocket connection of an added route.
WsHandler = Callable[[ServerConnection], Awaitable[None]]


class CaptionServer:
    """Serves the views and the caption feed of one :class:`Broadcaster`.

    Args:
        broadcaster: The fan-out that the pipeline publishes to.
        host: Address to bind; ``0.0.0.0`` lets phones on the venue network connect.
        port: TCP port; 0 picks a free one (see :attr:`port` after :meth:`start`).
        web_root: Folder of the views (``index.html``, ``screen.html``, ...).
        health: Called for ``/healthz``; its dict is merged into the answer.
    """

    def __init__(self, broadcaster: Broadcaster, *, host: str = "0.0.0.0", port: int = 8765,
                 web_root: Path = DEFAULT_WEB_ROOT,
                 health: Callable[[], dict] | None = None, stall_s: float = STALL_S) -> None:
        self._broadcaster = broadcaster
        self._stall_s = stall_s
        self._host = host
        self._port = port
        self._web_root = Path(web_root)
        self._health = health
        self._files: dict[str, StaticFile] = {}
        self._server: Server | None = None
        self._qr_cache: dict[str, bytes | None] = {}
        self._connections: set[ServerConnection] = set()
        self._routes: dict[str, HttpHandler] = {}
        self._ws_routes: dict[str, tuple[WsHandler, HandshakeCheck | None]] = {}
        self._health_extras: list[Callable[[], dict]] = []

    @property
    def port(self) -> int:
        """The bound port (the real one once started, even if 0 was asked for)."""
        return self._port

    async def start(self) -> None:
        """Loads the views and starts listening.

        Raises:
            OSError: The address or port cannot be bound.
        """
        self._files = load_web_root(self._web_root)
        self._server = await serve(self._handle, self._host, self._port,
                                   process_request=self._process_request, **SERVE_OPTIONS)
        self._port = self._server.sockets[0].getsockname()[1]
        logger.info("caption server on %s port %d", self._host, self._port)

    async def close(self) -> None:
        """Closes every connection (1001, going away) and stops listening."""
        server, self._server = self._server, None
        if server is not None:
            await close_server(server, self._connections)

    def add_route(self, path: str, handler: HttpHandler) -> None:
        """Serves HTTP GETs (and HEADs) of ``path`` with ``handler``.

        Raises:
            ValueError: ``path`` is one of the server's own or already added.
        """
        self._check_free(path)
        self._routes[path] = handler

    def add_ws_route(self, path: str, handler: WsHandler,
                     check: HandshakeCheck | None = None) -> None:
        """Serves websocket connections to ``path`` with ``handler``.

        Args:
            path: The URL path (no query).
            handler: Runs for each connection; the connection closes when it returns.
            check: Runs on the handshake request first; returning a response (401,
                403...) refuses the connection before it is opened.

        Raises:
            ValueError: ``path`` is one of the server's own or already added.
        """
        self._check_free(path)
        self._ws_routes[path] = (handler, check)

    def add_health(self, callback: Callable[[], dict]) -> None:
        """Merges ``callback()``'s dict into every ``/healthz`` answer."""
        self._health_extras.append(callback)

    def _check_free(self, path: str) -> None:
        own = {"/ws", "/healthz", "/urls.json", "/qr.svg", *ROUTES}
        if not path.startswith("/") or path in own or path in self._routes \
                or path in self._ws_routes:
            raise ValueError(f"path {path!r} is taken or invalid")

    def urls(self) -> dict[str, str]:
        """Where to find the views and the feed, with a LAN address for a wildcard bind."""
        return view_urls(self._host, self._port)

    # HTTP

    def _process_request(self, connection: ServerConnection,
                         request: Request) -> Response | None:
        method = getattr(request, "method", "GET")
        if method not in ("GET", "HEAD"):
            response = text_response(HTTPStatus.METHOD_NOT_ALLOWED, "Only GET is served here.\n")
            response.headers["Allow"] = "GET, HEAD"
            return response
        response = self._route(connection, request)
        if method == "HEAD" and response is not None:
            response.body = b""  # Content-Length still tells the size of a GET
        return response

    def _route(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        path = unquote(url.path)
        if path in self._ws_routes:
            check = self._ws_routes[path][1]
            return check(connection, request) if check is not None else None
        if path == "/ws":
            if self._broadcaster.viewer_count >= self._broadcaster.max_clients:
                return text_response(HTTPStatus.SERVICE_UNAVAILABLE, "Too many viewers.\n")
            return None  # go on with the websocket handshake
        if "upgrade" in request.headers.get("Connection", "").lower():
            return text_response(HTTPStatus.NOT_FOUND, "The caption feed is at /ws.\n")
        if path == "/healthz":
            return self._healthz()
        if path in self._routes:
            return self._routes[path](request)
        if path == "/urls.json":
            return json_response(HTTPStatus.OK, self.urls())
        if path == "/qr.svg":
            svg = self._phone_qr()
            if svg is None:
                return text_response(HTTPStatus.NOT_FOUND, "QR codes need the qrcode package.\n")
            return http_response(HTTPStatus.OK, svg, CONTENT_TYPES[".svg"])
        return static_response(self._files, path)

    def _healthz(self) -> Response:
        body: dict[str, Any] = {
            "status": "ok",
            "protocol": PROTOCOL_VERSION,
            "session": self._broadcaster.session,
            "viewers": self._broadcaster.viewer_count,
            "max_viewers": self._broadcaster.max_clients,
            "dropped_viewers": self._broadcaster.dropped_viewers,
            "last_seq": self._broadcaster.last_seq,
        }
        callbacks = [self._health] if self._health is not None else []
        try:
            for callback in [*callbacks, *self._health_extras]:
                body.update(callback())
        except Exception:
            logger.exception("health callback failed")
            body["status"] = "error"
            return json_response(HTTPStatus.SERVICE_UNAVAILABLE, body)
        return json_response(HTTPStatus.OK, body)

    def _phone_qr(self) -> bytes | None:
        url = self.urls()["phone"]
        if url not in self._qr_cache:
            self._qr_cache[url] = svg_qr(url)
        return self._qr_cache[url]

    # WebSocket

    async def _handle(self, ws: ServerConnection) -> None:
        route = self._ws_routes.get(unquote(urlsplit(ws.request.path).path))
        if route is not None:
            self._connections.add(ws)
            try:
                await route[0](ws)
            finally:
                self._connections.discard(ws)
            return
        since, session = parse_since(urlsplit(ws.request.path).query)
        cut_off = asyncio.Event()
        try:
            viewer = self._broadcaster.attach(since, session, on_drop=cut_off.set)
        except TooManyViewers:
            await ws.close(CLOSE_TOO_SLOW, "too many viewers")
            return
        self._connections.add(ws)
        try:
            await feed_viewer(ws, send_viewer(ws, viewer), cut_off, self._stall_s)
        finally:
            self._broadcaster.detach(viewer)
            self._connections.discard(ws)


# The viewer's side of a connection, shared with the serving edge's server.

async def feed_viewer(ws: ServerConnection, sender: Coroutine[Any, Any, None],
                      cut_off: asyncio.Event, stall_s: float = STALL_S) -> None:
    """Serves one viewer's connection until it closes, is cut off, or stalls.

    Args:
        ws: The viewer's connection.
        sender: Sends the viewer its messages (:func:`send_viewer`), run as a task.
        cut_off: Set when the fan-out cut the viewer off for being slow.
        stall_s: How long the socket may take no byte before the viewer is cut off.
    """
    stalled = asyncio.create_task(watch_stall(ws, stall_s))
    tasks = [asyncio.create_task(sender), asyncio.create_task(ignore_input(ws)),
             asyncio.create_task(cut_off.wait()), stalled]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if cut_off.is_set() or stalled.done():
            if stalled.done():
                logger.info("viewer stalled for %.0f s: cut off", stall_s)
            await close_stalled(ws, CLOSE_TOO_SLOW, "too slow")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def send_viewer(ws: ServerConnection, viewer: Viewer) -> None:
    """Sends the backlog, then the queue; waits for the socket when it is full."""
    try:
        for data in viewer.backlog:
            await ws.send(data, text=True)
        viewer.backlog = []
        viewer.write_now = functools.partial(write_now, ws)
        while True:
            viewer.idle = viewer.queue.empty()
            data = await viewer.queue.get()
            viewer.idle = False
            await ws.send(data, text=True)
    except ConnectionClosed:
        pass
    finally:
        viewer.idle = False
        viewer.write_now = None


async def watch_stall(ws: ServerConnection, stall_s: float) -> None:
    """Returns once the viewer's writes have been blocked for ``stall_s``."""
    loop = asyncio.get_running_loop()
    blocked_since: float | None = None
    period = min(1.0, stall_s / 4)
    while True:
        await asyncio.sleep(period)
        if ws.transport.get_write_buffer_size() < WRITE_LIMIT:
            blocked_since = None
        elif blocked_since is None:
            blocked_since = loop.time()
        elif loop.time() - blocked_since >= stall_s:
            return


async def ignore_input(ws: ServerConnection) -> None:
    """Reads and discards what a viewer sends: viewers are read-only."""
    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass  # includes 1009 for a message over MAX_VIEWER_MESSAGE


async def close_stalled(ws: ServerConnection, code: int, reason: str) -> None:
    """Closes a connection, aborting it when the close frame cannot go out in time."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await ws.close(code, reason)
    except TimeoutError:
        ws.transport.abort()


async def close_server(server: Server, connections: set[ServerConnection]) -> None:
    """Closes every connection (1001, going away) and stops listening; the sockets of
    stalled clients, which never take their close frame, are cut."""
    server.close(code=CLOSE_GOING_AWAY)
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await server.wait_closed()
    except TimeoutError:
        for connection in list(connections):
            connection.transport.abort()
        await server.wait_closed()
