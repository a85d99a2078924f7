"""A serving edge's HTTP and websockets: the venue index and every room's views.

| path | what |
| --- | --- |
| ``/`` | the venue index (:func:`~captioner.delivery.venue.index_page`) |
| ``/rooms.json`` | the rooms, their titles and states, as JSON |
| ``/healthz`` | the edge: its bus, rooms and viewers |
| ``/r/ROOM/`` (``phone``), ``/r/ROOM/screen``, ``/r/ROOM/overlay`` | a room's views |
| ``/r/ROOM/ws`` | a room's viewer websocket (``?since=SEQ&session=...``) |
| ``/r/ROOM/qr.svg``, ``/r/ROOM/urls.json`` | a room's QR code and addresses |
| ``/r/ROOM/FILE``, ``/FILE`` | the views' files (scripts, styles) |

The views are the room server's own (``web_overlay/``): they load their files and open
their websocket next to the page, so the same files work at ``/`` and at ``/r/ROOM/``.
Nothing here writes: there is no operator console and no control channel, and the
console's files are not served. The answers are built by :mod:`captioner.delivery.views`
and :mod:`captioner.delivery.venue`, the viewers served by the functions of
:mod:`captioner.delivery.server`, as on a room's own server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from captioner.bus.names import check_room
from captioner.delivery.broadcast import TooManyViewers
from captioner.delivery.edge import EdgeRoom, Venue
from captioner.delivery.resume import RESUME_QUEUE, from_memory, resume_point
from captioner.delivery.server import (
    CLOSE_TOO_SLOW,
    SERVE_OPTIONS,
    STALL_S,
    close_server,
    feed_viewer,
    parse_since,
    send_viewer,
)
from captioner.delivery.venue import base_url, index_page, room_entry, room_path, room_urls
from captioner.delivery.views import (
    CONTENT_TYPES,
    CSP,
    DEFAULT_WEB_ROOT,
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

#: Files of the web root an edge does not serve: the room's console stays on the room.
ROOM_ONLY = ("/operator.",)
#: Seconds a viewer may wait for an edge that is reading a room's history.
CATCH_UP_WAIT_S = 5.0


class EdgeServer:
    """Serves the views of every room of a :class:`~captioner.delivery.edge.Venue`.

    Args:
        venue: The rooms.
        host: Address to bind.
        port: TCP port; 0 picks a free one (see :attr:`port` after :meth:`start`).
        web_root: Folder of the views.
        max_resumes: Viewers resuming from the stream at once; more are told to come
            back later (1013), which the views do by themselves.
        resume_queue: Messages a resuming viewer may have waiting.
    """

    def __init__(self, venue: Venue, *, host: str = "0.0.0.0", port: int = 8765,
                 web_root: Path = DEFAULT_WEB_ROOT, max_resumes: int = 64,
                 resume_queue: int = RESUME_QUEUE, stall_s: float = STALL_S) -> None:
        self.venue = venue
        self._host = host
        self._port = port
        self._web_root = Path(web_root)
        self._max_resumes = max_resumes
        self._resume_queue = resume_queue
        self._stall_s = stall_s
        self._files: dict[str, StaticFile] = {}
        self._server: Server | None = None
        self._connections: set[ServerConnection] = set()
        self._qr_cache: dict[str, bytes | None] = {}

    @property
    def port(self) -> int:
        return self._port

    @property
    def resuming(self) -> int:
        """Viewers catching up from the stream now, not yet joined to a fan-out."""
        return sum(len(room.resumes) for room in self.venue.rooms.values())

    async def start(self) -> None:
        """Loads the views and starts listening.

        Raises:
            OSError: The address or port cannot be bound.
        """
        self._files = {path: f for path, f in load_web_root(self._web_root).items()
                       if not path.startswith(ROOM_ONLY)}
        self._server = await serve(self._handle, self._host, self._port,
                                   process_request=self._process_request, **SERVE_OPTIONS)
        self._port = self._server.sockets[0].getsockname()[1]
        logger.info("edge server on %s port %d", self._host, self._port)

    async def close(self) -> None:
        """Closes every connection (1001, going away) and stops listening."""
        server, self._server = self._server, None
        if server is not None:
            await close_server(server, self._connections)

    def urls(self) -> dict[str, str]:
        """The index's address, and a room's (with ``ROOM`` for its id)."""
        base = view_urls(self._host, self._port)["phone"]
        return {"index": base, "room": base + "r/ROOM/"}

    # HTTP

    def _process_request(self, connection: ServerConnection,
                         request: Request) -> Response | None:
        method = getattr(request, "method", "GET")
        if method not in ("GET", "HEAD"):
            response = text_response(HTTPStatus.METHOD_NOT_ALLOWED, "Only GET is served here.\n")
            response.headers["Allow"] = "GET, HEAD"
            return response
        response = self._route(request)
        if method == "HEAD" and response is not None:
            response.body = b""
        return response

    def _route(self, request: Request) -> Response | None:
        url = urlsplit(request.path)
        path = unquote(url.path)
        upgrade = "upgrade" in request.headers.get("Connection", "").lower()
        if path.startswith("/r/"):
            return self._room_route(request, path[3:], url.query, upgrade)
        if upgrade:
            return text_response(HTTPStatus.NOT_FOUND,
                                 "A room's caption feed is at /r/ROOM/ws.\n")
        now = time.time_ns()
        if path == "/":
            body = index_page([room.state for room in self.venue.rooms.values()], now)
            return self._page(body)
        if path == "/rooms.json":
            base = self._base(request)
            return json_response(HTTPStatus.OK, {"rooms": [
                room_entry(room.state, now, urls=room_urls(base, room.room),
                           viewers=room.broadcaster.viewer_count)
                for _, room in sorted(self.venue.rooms.items())]})
        if path == "/healthz":
            return self._healthz(now)
        static = self._files.get(path)
        if static is None or static.content_type.startswith("text/html"):
            return text_response(HTTPStatus.NOT_FOUND, "Not found.\n")
        return static_response(self._files, path)

    def _room_route(self, request: Request, rest: str, query: str,
                    upgrade: bool) -> Response | None:
        room_id, slash, sub = rest.partition("/")
        room = self.venue.rooms.get(room_id)
        if room is None:
            return text_response(HTTPStatus.NOT_FOUND, _no_room(room_id))
        if not slash:  # the views' files are next to the page: the page needs its slash
            target = room_path(room_id) + (f"?{query}" if query else "")
            return http_response(HTTPStatus.MOVED_PERMANENTLY, b"", "text/plain",
                                 {"Location": target})
        sub = "/" + sub
        if sub == "/ws":
            if not upgrade:
                return text_response(HTTPStatus.BAD_REQUEST, "This is a websocket.\n")
            if room.broadcaster.viewer_count >= room.broadcaster.max_clients:
                return text_response(HTTPStatus.SERVICE_UNAVAILABLE, "Too many viewers.\n")
            return None  # go on with the handshake
        if upgrade:
            return text_response(HTTPStatus.NOT_FOUND,
                                 f"The caption feed is at {room_path(room_id)}ws.\n")
        urls = room_urls(self._base(request), room_id)
        if sub == "/urls.json":
            return json_response(HTTPStatus.OK, urls)
        if sub == "/qr.svg":
            svg = self._qr(urls["phone"])
            if svg is None:
                return text_response(HTTPStatus.NOT_FOUND, "QR codes need the qrcode package.\n")
            return http_response(HTTPStatus.OK, svg, CONTENT_TYPES[".svg"])
        return static_response(self._files, sub)

    def _base(self, request: Request) -> str:
        fallback = view_urls(self._host, self._port)["phone"]
        return base_url(request.headers, fallback)

    def _qr(self, url: str) -> bytes | None:
        if url not in self._qr_cache:
            if len(self._qr_cache) > 256:  # Host headers are the client's to choose
                self._qr_cache.clear()
            self._qr_cache[url] = svg_qr(url)
        return self._qr_cache[url]

    @staticmethod
    def _page(body: bytes) -> Response:
        return http_response(HTTPStatus.OK, body, CONTENT_TYPES[".html"],
                             {"Content-Security-Policy": CSP})

    def _healthz(self, now: int) -> Response:
        link = self.venue.link.state
        rooms = {room_id: {"state": room.state.state(now), "session": room.broadcaster.session,
                           "last_seq": room.broadcaster.last_seq,
                           "viewers": room.broadcaster.viewer_count,
                           "resuming": len(room.resumes)}
                 for room_id, room in sorted(self.venue.rooms.items())}
        body: dict[str, Any] = {
            "status": "ok", "protocol": PROTOCOL_VERSION,
            "bus": {"url": link.url, "connected": link.connected},
            "rooms": rooms, "viewers": sum(r["viewers"] for r in rooms.values()),
            "resuming": self.resuming,
        }
        return json_response(HTTPStatus.OK, body)

    # WebSocket

    async def _handle(self, ws: ServerConnection) -> None:
        url = urlsplit(ws.request.path)
        room_id = unquote(url.path)[3:].partition("/")[0]
        room = self.venue.rooms.get(room_id)
        if room is None:  # gone between the handshake and now
            await ws.close(1001, "the room left the bus")
            return
        self._connections.add(ws)
        room.connections.add(ws)
        try:
            if not room.caught_up.is_set():
                # An edge that has just found the room is still reading its history:
                # a little wait, and memory serves most resuming viewers.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(room.caught_up.wait(), CATCH_UP_WAIT_S)
            since, session = parse_since(url.query)
            since = resume_point(room.broadcaster, since, session)
            if from_memory(room.broadcaster, since):
                await self._from_memory(ws, room, since, session)
            else:
                assert since is not None
                await self._from_stream(ws, room, since, session)
        finally:
            room.connections.discard(ws)
            self._connections.discard(ws)

    async def _from_memory(self, ws: ServerConnection, room: EdgeRoom, since: int | None,
                           session: str | None) -> None:
        cut_off = asyncio.Event()
        try:
            viewer = room.broadcaster.attach(since, session, on_drop=cut_off.set)
        except TooManyViewers:
            await ws.close(CLOSE_TOO_SLOW, "too many viewers")
            return
        try:
            await feed_viewer(ws, send_viewer(ws, viewer), cut_off, self._stall_s)
        finally:
            room.broadcaster.detach(viewer)

    async def _from_stream(self, ws: ServerConnection, room: EdgeRoom, since: int,
                           session: str | None) -> None:
        if self.resuming >= self._max_resumes:
            await ws.close(CLOSE_TOO_SLOW, "busy: come back in a moment")
            return
        resume = room.resume(since, session, queue_size=self._resume_queue)
        try:
            await feed_viewer(ws, resume.send(ws), resume.cut_off, self._stall_s)
        finally:
            room.resumes.discard(resume)
            resume.close()


def _no_room(room_id: str) -> str:
    try:
        check_room(room_id)
    except ValueError:
        return "Not found.\n"
    return (f"No room {room_id} on the bus (yet): rooms appear here a few seconds after "
            "they start.\n")
