"""The operator console: the ``/operator`` page, the ``/control`` websocket, ``/metrics``.

A thin async adapter. The decisions live in :mod:`captioner.delivery.control` (commands, tokens,
the screen gate) and :mod:`captioner.delivery.metrics` (dashboard, Prometheus); this module
plugs them into a running session:

* the pipeline's broadcaster sink is replaced by :meth:`OperatorConsole.screen_sink`,
  which passes events through a :class:`~captioner.room.gate.ScreenGate` (captions are
  held back from the screens while paused; the journal still gets them);
* :meth:`CaptionMetrics.observe <captioner.delivery.metrics.CaptionMetrics.observe>` is added as
  a sink, so every event is measured;
* routes are added to the :class:`~captioner.delivery.server.CaptionServer`: ``GET /operator``
  (the page), ``GET /metrics`` (Prometheus), ``WS /control`` (token + Origin checked)
  and the console's fields in ``/healthz``.

Build it all with :func:`start_operator`. See ``docs/operator.md``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from captioner.bus.base import CaptionBus
from captioner.bus.messages import Ack, RoomFigures
from captioner.delivery.broadcast import Broadcaster
from captioner.delivery.control import (
    AUTO,
    bearer_token,
    origin_allowed,
    parse_command,
    resolve_token,
    token_matches,
)
from captioner.delivery.metrics import CaptionMetrics, Dashboard, LiveFigures
from captioner.delivery.server import CaptionServer
from captioner.delivery.views import CSP, DEFAULT_WEB_ROOT, http_response
from captioner.errors import CaptionerError, CommandError
from captioner.languages import LANGUAGES
from captioner.programme import OTHER_SPEAKER, programme_to_data, speaker_to_data

log = logging.getLogger(__name__)

#: Version of the control channel's messages (``welcome.protocol``).
CONTROL_PROTOCOL = 1
#: Seconds a browser console has to send its token after connecting.
AUTH_TIMEOUT_S = 10.0
#: How often a console gets the session's state.
STATE_PERIOD_S = 0.25
#: Consoles connected at once; more are refused (close 1013).
MAX_CONSOLES = 8
#: Close code for a missing or wrong token (4000-4999 are the application's; 4401
#: mirrors HTTP 401). The reason says nothing more than "unauthorized".
CLOSE_UNAUTHORIZED = 4401
CLOSE_TRY_LATER = 1013

#: The console must never be framed by another page (clickjacking).
OPERATOR_CSP = CSP + "; frame-ancestors 'none'"
PAGE_HEADERS = {"Content-Security-Policy": OPERATOR_CSP, "X-Frame-Options": "DENY",
                "Cache-Control": "no-store"}


def _dumps(msg: Mapping[str, Any]) -> str:
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":"))


def _translation_status(engines: Mapping[str, Any], unavailable: Mapping[str, str]) -> str:
    """``ok``, ``partial`` (a direction has no engine), ``unavailable`` or ``off``."""
    if unavailable:
        return "partial" if engines else "unavailable"
    return "ok" if engines else "off"


class OperatorConsole:
    """Serves the operator console of one room, from the room's caption bus.

    Args:
        bus: The room's bus: its events, figures and commands.
        broadcaster: The viewers' fan-out (for the viewer counts).
        token: The operator token.
        holding_message: What paused screens show when the operator gives no message.
        info: Static facts for the console (``model``, ``title``...).
    """

    def __init__(self, bus: CaptionBus, broadcaster: Broadcaster, *, token: str,
                 holding_message: str = "", info: Mapping[str, Any] | None = None) -> None:
        self.bus = bus
        self.broadcaster = broadcaster
        self.token = token
        self.holding_message = holding_message
        self.info = dict(info or {})
        figures = self.figures
        self.inputs: tuple[str, ...] = tuple(i.id for i in figures.inputs)
        self.languages: tuple[str, ...] = figures.languages or LANGUAGES
        self.dashboard = Dashboard(self.inputs, speed=figures.speed,
                                   offset_s=lambda: self.figures.time_offset_s)
        self.metrics = CaptionMetrics(self.dashboard, live=self.live_figures)
        self.page = b""
        self._consoles: dict[ServerConnection, asyncio.Event] = {}
        self._load: tuple[float, float, float | None] | None = None  # (at, total, load)
        self._state_failing = False
        # Held captions too: the operator sees what is said while the screens are paused.
        self._subscription = bus.subscribe(
            lambda published: self.metrics.observe(published.event), held=True)

    @property
    def figures(self) -> RoomFigures:
        """The room's latest figures (an empty snapshot before the first)."""
        return self.bus.figures or RoomFigures(at_ns=0)

    # -- wiring ---------------------------------------------------------------------------

    def attach(self, server: CaptionServer, page: bytes) -> None:
        """Adds ``/operator``, ``/metrics``, ``/control`` and the health fields.

        Args:
            server: The caption server (started or not).
            page: The console's HTML (``web_overlay/operator.html``).
        """
        self.page = page
        server.add_route("/operator", self._serve_page)
        server.add_route("/metrics", self._serve_metrics)
        server.add_ws_route("/control", self._serve_control, check=self._check_handshake)
        server.add_health(self.health)

    def close(self) -> None:
        self._subscription.close()

    # -- state ----------------------------------------------------------------------------

    def live_figures(self) -> LiveFigures:
        """The figures ``/metrics`` reads at each scrape."""
        figures = self.figures
        return LiveFigures(
            viewers=self.broadcaster.viewer_count,
            dropped_viewers=self.broadcaster.dropped_viewers,
            translation_queue=figures.translation_queue,
            asr_dropped={i.id: i.dropped_chunks for i in figures.inputs},
            asr_backlog={i.id: i.backlog_chunks for i in figures.inputs},
            asr_passes={i.id: i.passes for i in figures.inputs},
            inputs_enabled={i.id: i.enabled for i in figures.inputs},
            paused=figures.paused,
            held=figures.held,
            consoles=len(self._consoles),
        )

    def _asr_load(self, figures: RoomFigures) -> float | None:
        """Share of the last second or more that Whisper was busy (1.0: falling behind)."""
        now = time.monotonic()
        total = figures.asr_seconds
        if self._load is None:
            self._load = (now, total, None)
        elif now - self._load[0] >= 1.0:
            load = max(0.0, (total - self._load[1]) / (now - self._load[0]))
            self._load = (now, total, round(min(load, 1.0), 2))
        return self._load[2]

    @staticmethod
    def _recording(figures: RoomFigures) -> dict[str, Any] | None:
        record = figures.recording
        if record is None:
            return None
        return {"name": record.name, "path": record.path, "healthy": record.healthy,
                "error": record.error}

    def state(self) -> dict[str, Any]:
        """Everything a console shows, as one JSON-ready message."""
        dash = self.dashboard.snapshot()
        figures = self.figures
        inputs = []
        for entry in figures.inputs:
            inputs.append({
                "id": entry.id,
                "source": entry.source,
                "enabled": entry.enabled,
                **dash["inputs"].get(entry.id, {}),
                "asr_dropped": entry.dropped_chunks,
                "backlog_s": entry.backlog_s,
                "passes": entry.passes,
            })
        placement = figures.placement
        engines = dict(figures.translation_engines)
        unavailable = dash["translation_unavailable"]
        return {
            "type": "state",
            "now": round(time.time(), 3),
            "paused": figures.paused,
            "language": figures.forced_language or AUTO,
            "inputs": inputs,
            "latency": dash["latency"],
            "viewers": self.broadcaster.viewer_count,
            "dropped_viewers": self.broadcaster.dropped_viewers,
            "consoles": len(self._consoles),
            "recording": self._recording(figures),
            "asr": {
                "model": self.info.get("model"),
                "device": placement.device,
                "compute_type": placement.compute_type,
                "threads": placement.threads,
                "languages": list(self.languages),
                "load": self._asr_load(figures),
                "passes": figures.passes,
            },
            "translation": {
                "status": _translation_status(engines, unavailable),
                "engines": engines,
                "unavailable": unavailable,
                "queue": figures.translation_queue,
                "dropped": figures.translation_dropped,
                "errors": dash["translation_errors"],
            },
            "captions": {"committed": figures.committed, "held": figures.held,
                         "last_seq": self.broadcaster.last_seq,
                         "session": self.broadcaster.session},
            "screens": dash["screens"],
            "listening": dash["listening"],
            "stopped": dash["stopped"],
            "errors": dash["errors"],
            "log": dash["log"][-15:],
            "programme": self._programme(figures),
        }

    @staticmethod
    def _programme(figures: RoomFigures) -> dict[str, Any]:
        """Now speaking: the programme, the item on now, who is set, the schedule."""
        return {"items": programme_to_data(figures.programme), "item": figures.item,
                "auto": figures.auto_advance, "other": OTHER_SPEAKER.name,
                "speaker": None if figures.speaker is None else
                speaker_to_data(figures.speaker)}

    def health(self) -> dict[str, Any]:
        """The console's part of ``/healthz``: one status word per component."""
        dash = self.dashboard.snapshot()
        figures = self.figures
        inputs = {}
        for entry in figures.inputs:
            seen = dash["inputs"].get(entry.id, {})
            status = ("disabled" if not entry.enabled else
                      "lost" if seen.get("lost") else
                      "silent" if "silent_channel" in seen.get("warnings", ()) else
                      "clipping" if "clipping" in seen.get("warnings", ()) else "ok")
            inputs[entry.id] = {"status": status}
        record = figures.recording
        return {"components": {
            "pipeline": {"status": "stopped" if dash["stopped"] else
                         "listening" if dash["listening"] else "starting"},
            "inputs": inputs,
            "asr": {"status": "ok", "passes": figures.passes},
            "translation": {"status": _translation_status(
                figures.translation_engines, dash["translation_unavailable"]),
                "queue": figures.translation_queue},
            "recording": {"status": "off" if record is None else
                          "ok" if record.healthy else "error"},
            "screens": {"status": "paused" if figures.paused else "live",
                        "viewers": self.broadcaster.viewer_count},
            "operator": {"status": "ok", "consoles": len(self._consoles)},
        }}

    # -- commands -------------------------------------------------------------------------

    async def execute(self, raw: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
        """Runs one command from an authorised console and returns the answer to send.

        Answers are ``{"type": "ack", "id", "cmd", "changed", ...}`` or
        ``{"type": "error", "id", "error"}``; an error never changes anything.
        """
        cid = None
        try:
            if isinstance(raw, bytes):
                raise CommandError("commands are JSON text messages")
            try:
                msg = json.loads(raw) if isinstance(raw, str) else dict(raw)
            except ValueError:
                raise CommandError("a command must be JSON") from None
            if isinstance(msg, dict):
                cid = msg.get("id") if isinstance(msg.get("id"), (str, int)) else None
            command = parse_command(msg, inputs=self.inputs, languages=self.languages,
                                    programme=self.figures.programme)
            ack = await self.bus.command(command)
            return self._reply(ack)
        except CommandError as exc:
            return {"type": "error", "id": cid, "error": str(exc)}
        except Exception:  # a bug must not cost the operator the console
            log.exception("operator: command failed")
            self.metrics.error("control")
            return {"type": "error", "id": cid, "error": "internal error (see the server log)"}
        finally:
            for wake in self._consoles.values():
                wake.set()

    def _reply(self, ack: Ack) -> dict[str, Any]:
        if not ack.ok:
            if ack.cmd == "new_session":
                self.metrics.error("new_session")
            return {"type": "error", "id": ack.id, "error": ack.error}
        reply: dict[str, Any] = {"type": "ack", "id": ack.id, "cmd": ack.cmd,
                                 "changed": ack.changed}
        if ack.session is not None:
            reply["session"] = {k: v for k, v in dict(ack.session).items()
                                if isinstance(v, (str, int, float, bool)) or v is None}
        return reply

    # -- HTTP -----------------------------------------------------------------------------

    def _serve_page(self, request: Request) -> Response:
        return http_response(HTTPStatus.OK, self.page, "text/html; charset=utf-8",
                             PAGE_HEADERS)

    def _serve_metrics(self, request: Request) -> Response:
        body, content_type = self.metrics.exposition(request.headers.get("Accept", ""))
        return http_response(HTTPStatus.OK, body, content_type)

    # -- the control websocket ------------------------------------------------------------

    def _check_handshake(self, connection: ServerConnection,
                         request: Request) -> Response | None:
        """Refuses cross-origin pages (403) and wrong bearer tokens (401) up front."""
        headers = request.headers
        if not origin_allowed(headers.get("Origin"), headers.get("Host")):
            self._refused(connection, "cross-origin")
            return http_response(HTTPStatus.FORBIDDEN, b"Forbidden.\n",
                                 "text/plain; charset=utf-8")
        given = bearer_token(headers.get("Authorization"))
        if given is not None and not token_matches(self.token, given):
            self._refused(connection, "wrong token")
            return http_response(HTTPStatus.UNAUTHORIZED, b"Unauthorized.\n",
                                 "text/plain; charset=utf-8",
                                 {"WWW-Authenticate": 'Bearer realm="captioner"'})
        if len(self._consoles) >= MAX_CONSOLES:
            return http_response(HTTPStatus.SERVICE_UNAVAILABLE, b"Too many consoles.\n",
                                 "text/plain; charset=utf-8")
        return None

    def _refused(self, connection: ServerConnection, why: str) -> None:
        self.metrics.error("control_auth")
        log.warning("operator: refused a control connection from %s (%s)",
                    connection.remote_address[0] if connection.remote_address else "?", why)

    async def _authenticate(self, ws: ServerConnection) -> bool:
        """A bearer header was checked at the handshake; else the first message."""
        if bearer_token(ws.request.headers.get("Authorization")) is not None:
            return True  # _check_handshake refused a wrong one
        try:
            async with asyncio.timeout(AUTH_TIMEOUT_S):
                raw = await ws.recv()
            msg = json.loads(raw) if isinstance(raw, str) else None
        except (TimeoutError, ValueError):
            msg = None
        ok = isinstance(msg, dict) and msg.get("type") == "auth" \
            and token_matches(self.token, msg.get("token"))
        if not ok:
            self._refused(ws, "no or wrong token")
        return ok

    async def _serve_control(self, ws: ServerConnection) -> None:
        try:
            if not await self._authenticate(ws):
                await ws.close(CLOSE_UNAUTHORIZED, "unauthorized")
                return
            if len(self._consoles) >= MAX_CONSOLES:
                await ws.close(CLOSE_TRY_LATER, "too many consoles")
                return
            await ws.send(_dumps(self._welcome()))
        except ConnectionClosed:
            return
        wake = asyncio.Event()
        self._consoles[ws] = wake
        log.info("operator: console connected (%d)", len(self._consoles))
        pusher = asyncio.create_task(self._push_state(ws, wake), name="operator-state")
        try:
            async for raw in ws:
                await ws.send(_dumps(await self.execute(raw)))
        except ConnectionClosed:
            pass
        finally:
            del self._consoles[ws]
            pusher.cancel()
            await asyncio.gather(pusher, return_exceptions=True)
            log.info("operator: console disconnected (%d)", len(self._consoles))

    def _welcome(self) -> dict[str, Any]:
        return {"type": "welcome", "protocol": CONTROL_PROTOCOL,
                "inputs": list(self.inputs), "languages": [AUTO, *self.languages],
                "holding_message": self.holding_message,
                "new_session": self.figures.new_session,
                "info": self.info}

    async def _push_state(self, ws: ServerConnection, wake: asyncio.Event) -> None:
        """Sends the state now, then every STATE_PERIOD_S or at once after a command."""
        try:
            while True:
                wake.clear()
                try:
                    data = _dumps(self.state())
                    self._state_failing = False
                except Exception:  # keep the console connected; it shows itself stale
                    if not self._state_failing:  # once, not four times a second
                        log.exception("operator: state failed")
                    self._state_failing = True
                    data = None
                if data is not None:
                    await ws.send(data)
                try:
                    async with asyncio.timeout(STATE_PERIOD_S):
                        await wake.wait()
                except TimeoutError:
                    pass
        except ConnectionClosed:
            pass


async def start_operator(server: CaptionServer, broadcaster: Broadcaster, bus: CaptionBus, *,
                         token: str | None = None,
                         announce: Callable[[str, str], None] | None = None,
                         holding_message: str = "", info: Mapping[str, Any] | None = None,
                         web_root: Path = DEFAULT_WEB_ROOT,
                         environ: Mapping[str, str] | None = None) -> OperatorConsole:
    """Builds the operator console of a room and plugs it into the server.

    Call it once the server is started (so the URL has the real port).

    Args:
        server: The caption server.
        broadcaster: The viewers' fan-out the server serves.
        bus: The room's caption bus.
        token: The operator token from the config; None takes
            ``CAPTIONER_OPERATOR_TOKEN`` from the environment, else generates one.
        announce: Called as ``announce("operator", url)``; the URL carries the token in
            its fragment when the token was generated (else the operator has it).
        holding_message: What paused screens show by default.
        info: Static facts for the console, e.g. ``{"model": "whisper-base"}``.
        web_root: Where ``operator.html`` is.
        environ: The environment (``os.environ`` if None).

    Returns:
        The console (its :attr:`~OperatorConsole.token`, :attr:`~OperatorConsole.metrics`).

    Raises:
        CaptionerError: The configured token is too weak, or the page is missing.
    """
    token, origin = resolve_token(token, os.environ if environ is None else environ)
    path = Path(web_root) / "operator.html"
    try:
        page = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        raise CaptionerError(f"{path}: cannot read the operator page "
                             f"({exc.strerror or exc})") from None
    console = OperatorConsole(bus, broadcaster, token=token,
                              holding_message=holding_message, info=info)
    console.attach(server, page)
    url = server.urls()["phone"].rstrip("/") + "/operator"
    if origin == "generated":
        url += f"#token={token}"
    else:
        log.info("operator token from %s", "the config" if origin == "config"
                 else "CAPTIONER_OPERATOR_TOKEN")
    if announce is not None:
        announce("operator", url)
    return console
