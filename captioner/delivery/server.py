"""The caption server: the views over HTTP and the caption feed over WebSocket, on one port.

One :class:`CaptionServer` answers plain HTTP GETs (the views in ``web_overlay/``,
``/healthz``, ``/qr.svg``, ``/urls.json``) from the websocket handshake's
``process_request`` hook, and serves the read-only caption feed at ``/ws``. The fan-out
and catch-up logic lives in :mod:`captioner.delivery.broadcast`; this module only moves bytes.

Other components add their own paths with :meth:`CaptionServer.add_route` (HTTP),
:meth:`CaptionServer.add_ws_route` (websocket) and :meth:`CaptionServer.add_health`
(``/healthz`` fields); the viewer feed ``/ws`` stays read-only whatever is added.

The protocol is described in ``docs/protocol.md``.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import io
import ipaddress
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from captioner.delivery.broadcast import Broadcaster, TooManyViewers, Viewer
from captioner.delivery.wire import PROTOCOL_VERSION

logger = logging.getLogger(__name__)

DEFAULT_WEB_ROOT = Path(__file__).resolve().parents[2] / "web_overlay"

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

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
#: Friendly routes to the view pages.
ROUTES = {"/": "index.html", "/phone": "index.html", "/screen": "screen.html",
          "/overlay": "overlay.html"}
MAX_STATIC_BYTES = 4 * 1024 * 1024

# Inline script is never needed by the views; forbidding it blunts any injection.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'")


@dataclass(frozen=True, slots=True)
class StaticFile:
    """A file of the web root, held in memory."""

    body: bytes
    content_type: str


def load_web_root(root: Path) -> dict[str, StaticFile]:
    """Reads every servable file under ``root`` into memory, keyed by URL path.

    Only files with a known content type, not hidden, and under the size cap are
    served. Serving from this table (never from a path built from the request) makes
    path traversal impossible by construction.

    Args:
        root: The folder of the views.

    Returns:
        ``{"/screen.html": StaticFile(...), ...}``; empty if the folder is missing.
    """
    files: dict[str, StaticFile] = {}
    if not root.is_dir():
        logger.warning("web root %s does not exist: no views will be served", root)
        return files
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        content_type = CONTENT_TYPES.get(path.suffix.lower())
        if content_type is None or path.stat().st_size > MAX_STATIC_BYTES:
            continue
        files["/" + rel.as_posix()] = StaticFile(path.read_bytes(), content_type)
    return files


def lan_address() -> str:
    """A best guess at this machine's address on the local network.

    Asks the kernel which source address it would use to reach a private address
    (a UDP ``connect`` sends nothing). Falls back to the host name's address, then to
    ``127.0.0.1``.
    """
    for probe in ("10.255.255.255", "192.168.255.255"):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.connect((probe, 9))
                addr = sock.getsockname()[0]
            if addr and not addr.startswith(("0.", "127.")):
                return addr
        except OSError:
            continue
    try:
        addr = socket.gethostbyname(socket.gethostname())
        if not addr.startswith("127."):
            return addr
    except OSError:
        pass
    return "127.0.0.1"


def _url_host(host: str) -> str:
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


def _qr(url: str, border: int):
    try:
        import qrcode
    except ImportError:
        return None
    code = qrcode.QRCode(border=border, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(url)
    code.make(fit=True)
    return code


def terminal_qr(url: str) -> str | None:
    """The QR code of ``url`` as text for a terminal (Unicode half blocks).

    Args:
        url: What the code should open, usually the phone view's URL.

    Returns:
        Lines of text to print, or ``None`` when the optional ``qrcode`` package is not
        installed.
    """
    code = _qr(url, border=2)
    if code is None:
        return None
    out = io.StringIO()
    # Inverted: light modules drawn as blocks, which scans on dark terminals.
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


def svg_qr(url: str) -> bytes | None:
    """The QR code of ``url`` as an SVG image (dark on white), or ``None`` without qrcode."""
    code = _qr(url, border=2)
    if code is None:
        return None
    from qrcode.image.svg import SvgPathFillImage

    image = code.make_image(image_factory=SvgPathFillImage)
    return image.to_string(encoding="utf-8")


def _parse_since(query: str) -> tuple[int | None, str | None]:
    params = parse_qs(query, max_num_fields=8)
    since: int | None = None
    raw = (params.get("since") or [""])[0]
    if raw.isdigit() and len(raw) < 19:
        since = int(raw)
    session = (params.get("session") or [None])[0]
    if session is not None and not (len(session) <= 64 and session.isalnum()):
        session = None
    return since, session


def _write_now(ws: ServerConnection, data: bytes) -> bool:
    """Writes one text message without waiting, if the socket's buffer has room."""
    if ws.state is not State.OPEN or ws.transport.get_write_buffer_size() >= WRITE_LIMIT:
        return False
    broadcast((ws,), data, text=True)
    return True


def _response(status: HTTPStatus, body: bytes, content_type: str,
              extra: dict[str, str] | None = None) -> Response:
    headers = Headers([
        ("Date", email.utils.formatdate(usegmt=True)),
        ("Connection", "close"),
        ("Content-Length", str(len(body))),
        ("Content-Type", content_type),
        ("Cache-Control", "no-cache"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ])
    for key, value in (extra or {}).items():
        headers[key] = value
    return Response(status.value, status.phrase, headers, body)


def http_response(status: HTTPStatus, body: bytes, content_type: str,
                  extra: dict[str, str] | None = None) -> Response:
    """An HTTP response with the headers every answer of this server carries.

    Args:
        status: The status code.
        body: The body (sent as is).
        content_type: Its ``Content-Type``.
        extra: More headers (they win over the usual ones).
    """
    return _response(status, body, content_type, extra)


#: Answers one HTTP GET of an added route.
HttpHandler = Callable[[Request], Response]
#: Checks a websocket handshake: a response refuses it, None lets it go on.
HandshakeCheck = Callable[[ServerConnection, Request], Response | None]
#: Serves one websocket connection of an added route.
WsHandler = Callable[[ServerConnection], Awaitable[None]]


def _text(status: HTTPStatus, text: str) -> Response:
    return _response(status, text.encode(), "text/plain; charset=utf-8")


def _json(status: HTTPStatus, body: dict[str, Any]) -> Response:
    return _response(status, json.dumps(body, ensure_ascii=False).encode(),
                     "application/json")


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
        self._server = await serve(
            self._handle, self._host, self._port,
            process_request=self._process_request,
            max_size=MAX_VIEWER_MESSAGE,
            max_queue=4,
            compression=None,  # compressing once per viewer would cost N times the CPU
            close_timeout=CLOSE_TIMEOUT_S,
            write_limit=WRITE_LIMIT,
            ping_interval=20, ping_timeout=20,
        )
        self._port = self._server.sockets[0].getsockname()[1]
        logger.info("caption server on %s port %d", self._host, self._port)

    async def close(self) -> None:
        """Closes every connection (1001, going away) and stops listening."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close(code=CLOSE_GOING_AWAY)
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await server.wait_closed()
        except TimeoutError:
            # Stalled clients never take their close frame: cut the sockets.
            for connection in list(self._connections):
                connection.transport.abort()
            await server.wait_closed()

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
        host = self._host
        if host in ("", "0.0.0.0", "::"):
            host = lan_address()
        base = f"http://{_url_host(host)}:{self._port}"
        return {
            "phone": f"{base}/",
            "screen": f"{base}/screen",
            "overlay": f"{base}/overlay?lang=both",
            "ws": f"ws://{_url_host(host)}:{self._port}/ws",
        }

    # HTTP

    def _process_request(self, connection: ServerConnection,
                         request: Request) -> Response | None:
        method = getattr(request, "method", "GET")
        if method not in ("GET", "HEAD"):
            response = _text(HTTPStatus.METHOD_NOT_ALLOWED, "Only GET is served here.\n")
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
                return _text(HTTPStatus.SERVICE_UNAVAILABLE, "Too many viewers.\n")
            return None  # go on with the websocket handshake
        if "upgrade" in request.headers.get("Connection", "").lower():
            return _text(HTTPStatus.NOT_FOUND, "The caption feed is at /ws.\n")
        if path == "/healthz":
            return self._healthz()
        if path in self._routes:
            return self._routes[path](request)
        if path == "/urls.json":
            return _json(HTTPStatus.OK, self.urls())
        if path == "/qr.svg":
            svg = self._phone_qr()
            if svg is None:
                return _text(HTTPStatus.NOT_FOUND, "QR codes need the qrcode package.\n")
            return _response(HTTPStatus.OK, svg, CONTENT_TYPES[".svg"])
        static = self._files.get("/" + ROUTES[path] if path in ROUTES else path)
        if static is None:
            return _text(HTTPStatus.NOT_FOUND, "Not found.\n")
        extra = {"Content-Security-Policy": CSP} if static.content_type.startswith(
            "text/html") else None
        return _response(HTTPStatus.OK, static.body, static.content_type, extra)

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
            return _json(HTTPStatus.SERVICE_UNAVAILABLE, body)
        return _json(HTTPStatus.OK, body)

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
        since, session = _parse_since(urlsplit(ws.request.path).query)
        cut_off = asyncio.Event()
        try:
            viewer = self._broadcaster.attach(since, session, on_drop=cut_off.set)
        except TooManyViewers:
            await ws.close(CLOSE_TOO_SLOW, "too many viewers")
            return
        self._connections.add(ws)
        stalled = asyncio.create_task(self._watch_stall(ws, self._stall_s))
        tasks = [asyncio.create_task(self._send(ws, viewer)),
                 asyncio.create_task(self._ignore_input(ws)),
                 asyncio.create_task(cut_off.wait()), stalled]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if viewer.dropped or stalled.done():
                if stalled.done():
                    logger.info("viewer stalled for %.0f s: cut off", self._stall_s)
                await self._close_stalled(ws, CLOSE_TOO_SLOW, "too slow")
        finally:
            self._broadcaster.detach(viewer)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._connections.discard(ws)

    @staticmethod
    async def _send(ws: ServerConnection, viewer: Viewer) -> None:
        """Sends the backlog, then the queue; waits for the socket when it is full."""
        try:
            for data in viewer.backlog:
                await ws.send(data, text=True)
            viewer.backlog = []
            viewer.write_now = functools.partial(_write_now, ws)
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

    @staticmethod
    async def _watch_stall(ws: ServerConnection, stall_s: float) -> None:
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

    @staticmethod
    async def _ignore_input(ws: ServerConnection) -> None:
        """Reads and discards what a viewer sends: viewers are read-only."""
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass  # includes 1009 for a message over MAX_VIEWER_MESSAGE

    @staticmethod
    async def _close_stalled(ws: ServerConnection, code: int, reason: str) -> None:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await ws.close(code, reason)
        except TimeoutError:
            ws.transport.abort()
