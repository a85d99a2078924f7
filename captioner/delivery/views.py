"""The views over HTTP: the web root held in memory, the headers every answer carries,
the addresses of the views, and the phone view's QR code.

No socket and no event loop here (bar :func:`lan_address`'s one question to the
kernel): :class:`~captioner.delivery.server.CaptionServer` routes each GET to these
and sends what they return. Other pages served by that server (the operator console)
build their answers with :func:`http_response` and :data:`CSP` too, so that every
answer carries the same headers.
"""

from __future__ import annotations

import email.utils
import io
import ipaddress
import json
import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from websockets.datastructures import Headers
from websockets.http11 import Response

logger = logging.getLogger(__name__)

DEFAULT_WEB_ROOT = Path(__file__).resolve().parents[2] / "web_overlay"

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


def http_response(status: HTTPStatus, body: bytes, content_type: str,
                  extra: dict[str, str] | None = None) -> Response:
    """An HTTP response with the headers every answer of this server carries.

    Args:
        status: The status code.
        body: The body (sent as is).
        content_type: Its ``Content-Type``.
        extra: More headers (they win over the usual ones).
    """
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


def text_response(status: HTTPStatus, text: str) -> Response:
    """A plain-text answer (errors, refusals)."""
    return http_response(status, text.encode(), "text/plain; charset=utf-8")


def json_response(status: HTTPStatus, body: dict[str, Any]) -> Response:
    """A JSON answer; non-ASCII text is sent as UTF-8, not escaped."""
    return http_response(status, json.dumps(body, ensure_ascii=False).encode(),
                         "application/json")


def static_response(files: Mapping[str, StaticFile], path: str) -> Response:
    """The answer to a GET of a view (``/``, ``/screen``...) or of a file of the web root.

    Args:
        files: The web root, as :func:`load_web_root` read it.
        path: The URL path, unquoted, without the query.

    Returns:
        The file (pages with the :data:`CSP`), or 404 for anything not in ``files``.
    """
    static = files.get("/" + ROUTES[path] if path in ROUTES else path)
    if static is None:
        return text_response(HTTPStatus.NOT_FOUND, "Not found.\n")
    extra = {"Content-Security-Policy": CSP} if static.content_type.startswith(
        "text/html") else None
    return http_response(HTTPStatus.OK, static.body, static.content_type, extra)


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


def view_urls(host: str, port: int) -> dict[str, str]:
    """Where to find the views and the caption feed of a server bound to ``host``:``port``.

    Args:
        host: The bound address; a wildcard bind (``0.0.0.0``, ``::``, empty) is named
            by :func:`lan_address`, which phones on the venue network can reach.
        port: The bound port.

    Returns:
        ``{"phone": ..., "screen": ..., "overlay": ..., "ws": ...}``.
    """
    if host in ("", "0.0.0.0", "::"):
        host = lan_address()
    base = f"http://{_url_host(host)}:{port}"
    return {
        "phone": f"{base}/",
        "screen": f"{base}/screen",
        "overlay": f"{base}/overlay?lang=both",
        "ws": f"ws://{_url_host(host)}:{port}/ws",
    }


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
