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
import inspect
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

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
from captioner.delivery.server import CSP, DEFAULT_WEB_ROOT, CaptionServer, http_response
from captioner.errors import CaptionerError, CommandError
from captioner.events import SAMPLE_RATE, Caption, Status
from captioner.languages import LANGUAGES
from captioner.room.controls import apply
from captioner.room.gate import ScreenGate

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

#: Starts a new session folder and journal; gets the title (may be empty) and returns
#: facts to show (``name``, ``path``). May be a coroutine function.
SessionFactory = Callable[[str], Awaitable[Mapping[str, Any]] | Mapping[str, Any]]


def _dumps(msg: Mapping[str, Any]) -> str:
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":"))


def _translation_backlog(translation: Any) -> int:
    """Sentences waiting in the machine-translation stage (0 without one)."""
    if translation is None:
        return 0
    pending = getattr(translation, "pending", 0)
    return pending if isinstance(pending, int) else 0


def _translation_dropped(translation: Any) -> int:
    """Sentences the machine-translation stage dropped from its full queue (0 without one)."""
    dropped = getattr(translation, "dropped", 0)
    return dropped if isinstance(dropped, int) else 0


def _translation_status(engines: Mapping[str, Any], unavailable: Mapping[str, str]) -> str:
    """``ok``, ``partial`` (a direction has no engine), ``unavailable`` or ``off``."""
    if unavailable:
        return "partial" if engines else "unavailable"
    return "ok" if engines else "off"


class OperatorConsole:
    """Serves the operator console of one live session.

    Args:
        broadcaster: The viewers' fan-out (its sink in the pipeline gets gated).
        pipeline: The :class:`~captioner.room.pipeline.LivePipeline` (its ``controls``,
            ``sinks``, ``publish``, ``workers``, ``translation``, ``source``, ``engine``).
        token: The operator token.
        session_factory: Starts a new session record; None when not recording.
        recording: Returns facts about the current record (``name``, ``path``,
            ``healthy``, ``error``), or None when not recording.
        holding_message: What paused screens show when the operator gives no message.
        info: Static facts for the console (``model``, ``config``...).
    """

    def __init__(self, broadcaster: Broadcaster, pipeline: Any, *, token: str,
                 session_factory: SessionFactory | None = None,
                 recording: Callable[[], Mapping[str, Any] | None] | None = None,
                 holding_message: str = "", info: Mapping[str, Any] | None = None) -> None:
        self.broadcaster = broadcaster
        self.pipeline = pipeline
        self.controls = pipeline.controls
        self.token = token
        self.session_factory = session_factory
        self.recording = recording
        self.holding_message = holding_message
        self.info = dict(info or {})
        self.inputs: tuple[str, ...] = tuple(pipeline.source.inputs)
        self.languages: tuple[str, ...] = tuple(
            getattr(pipeline.engine, "languages", None) or LANGUAGES)
        self.gate = ScreenGate()
        self.dashboard = Dashboard(
            self.inputs, speed=float(getattr(pipeline.source, "speed", 1.0) or 0.0),
            offset_s=lambda: float(getattr(pipeline, "time_offset_s", 0.0)))
        self.metrics = CaptionMetrics(self.dashboard, live=self.live_figures)
        self.page = b""
        self.session_info: Mapping[str, Any] | None = None
        self._consoles: dict[ServerConnection, asyncio.Event] = {}
        self._session_lock = asyncio.Lock()
        self._load: tuple[float, float, float | None] | None = None  # (at, total, load)
        self._state_failing = False

    # -- wiring ---------------------------------------------------------------------------

    def install(self) -> None:
        """Gates the broadcaster's sink and adds the metrics sink to the pipeline."""
        sinks = self.pipeline.sinks
        publish = self.broadcaster.publish
        found = [i for i, sink in enumerate(sinks) if sink == publish]
        for i in found:
            sinks[i] = self.screen_sink
        if not found:
            log.warning("operator: the broadcaster is not a sink of the pipeline; "
                        "pausing will not hold captions back")
        sinks.append(self.metrics.observe)

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

    def screen_sink(self, event: Caption | Status) -> None:
        """A pipeline sink: what the gate lets through goes to the viewers."""
        for out in self.gate.forward(event):
            self.broadcaster.publish(out)
        self.controls.paused = self.gate.paused  # the screens' state is the truth

    # -- state ----------------------------------------------------------------------------

    def live_figures(self) -> LiveFigures:
        """The figures ``/metrics`` reads at each scrape."""
        workers = self.pipeline.workers
        return LiveFigures(
            viewers=self.broadcaster.viewer_count,
            dropped_viewers=self.broadcaster.dropped_viewers,
            translation_queue=_translation_backlog(self.pipeline.translation),
            asr_dropped={k: w.dropped_chunks for k, w in workers.items()},
            asr_backlog={k: len(w.queue) for k, w in workers.items()},
            asr_passes={k: w.passes for k, w in workers.items()},
            inputs_enabled={i: self.controls.input_enabled(i) for i in self.inputs},
            paused=self.gate.paused,
            held=self.gate.held,
            consoles=len(self._consoles),
        )

    def _asr_load(self) -> float | None:
        """Share of the last second or more that Whisper was busy (1.0: falling behind)."""
        now = time.monotonic()
        total = sum(w.asr_seconds for w in self.pipeline.workers.values())
        if self._load is None:
            self._load = (now, total, None)
        elif now - self._load[0] >= 1.0:
            load = max(0.0, (total - self._load[1]) / (now - self._load[0]))
            self._load = (now, total, round(min(load, 1.0), 2))
        return self._load[2]

    def _recording(self) -> Mapping[str, Any] | None:
        if self.recording is None:
            return None
        try:
            return self.recording()
        except Exception:  # a broken callback must not stop the console
            log.exception("operator: recording callback failed")
            return {"healthy": False, "error": "unknown"}

    def state(self) -> dict[str, Any]:
        """Everything a console shows, as one JSON-ready message."""
        dash = self.dashboard.snapshot()
        workers = self.pipeline.workers
        labels = getattr(self.pipeline, "labels", {})
        inputs = []
        for input_id in self.inputs:
            worker = workers.get(input_id)
            backlog = sum(len(c.samples) for c in worker.queue) if worker else 0
            inputs.append({
                "id": input_id,
                "source": labels.get(input_id, "floor"),
                "enabled": self.controls.input_enabled(input_id),
                **dash["inputs"].get(input_id, {}),
                "asr_dropped": worker.dropped_chunks if worker else 0,
                "backlog_s": round(backlog / SAMPLE_RATE, 1),
                "passes": worker.passes if worker else 0,
            })
        placement = getattr(self.pipeline.engine, "placement", None)
        translation = self.pipeline.translation
        engines = {src: getattr(e, "name", "?")
                   for src, e in getattr(translation, "engines", {}).items()}
        unavailable = dash["translation_unavailable"]
        translation_status = _translation_status(engines, unavailable)
        return {
            "type": "state",
            "now": round(time.time(), 3),
            "paused": self.gate.paused,
            "language": self.controls.forced_language or AUTO,
            "inputs": inputs,
            "latency": dash["latency"],
            "viewers": self.broadcaster.viewer_count,
            "dropped_viewers": self.broadcaster.dropped_viewers,
            "consoles": len(self._consoles),
            "recording": self._recording(),
            "asr": {
                "model": self.info.get("model"),
                "device": getattr(placement, "device", None),
                "compute_type": getattr(placement, "compute_type", None),
                "threads": getattr(placement, "threads", None),
                "languages": list(self.languages),
                "load": self._asr_load(),
                "passes": sum(w.passes for w in workers.values()),
            },
            "translation": {
                "status": translation_status,
                "engines": engines,
                "unavailable": unavailable,
                "queue": _translation_backlog(translation),
                "dropped": _translation_dropped(translation),
                "errors": dash["translation_errors"],
            },
            "captions": {"committed": dash["committed"], "held": self.gate.held,
                         "last_seq": self.broadcaster.last_seq,
                         "session": self.broadcaster.session},
            "screens": dash["screens"],
            "listening": dash["listening"],
            "stopped": dash["stopped"],
            "errors": dash["errors"],
            "log": dash["log"][-15:],
        }

    def health(self) -> dict[str, Any]:
        """The console's part of ``/healthz``: one status word per component."""
        dash = self.dashboard.snapshot()
        inputs = {}
        for input_id in self.inputs:
            entry = dash["inputs"].get(input_id, {})
            status = ("disabled" if not self.controls.input_enabled(input_id) else
                      "lost" if entry.get("lost") else
                      "silent" if "silent_channel" in entry.get("warnings", ()) else
                      "clipping" if "clipping" in entry.get("warnings", ()) else "ok")
            inputs[input_id] = {"status": status}
        record = self._recording()
        engines = getattr(self.pipeline.translation, "engines", {})
        return {"components": {
            "pipeline": {"status": "stopped" if dash["stopped"] else
                         "listening" if dash["listening"] else "starting"},
            "inputs": inputs,
            "asr": {"status": "ok", "passes": sum(w.passes for w in
                                                  self.pipeline.workers.values())},
            "translation": {"status": _translation_status(
                engines, dash["translation_unavailable"]),
                "queue": _translation_backlog(self.pipeline.translation)},
            "recording": {"status": "off" if record is None else
                          "ok" if record.get("healthy", True) else "error"},
            "screens": {"status": "paused" if self.gate.paused else "live",
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
            command = parse_command(msg, inputs=self.inputs, languages=self.languages)
            outcome = apply(command, self.controls, holding_message=self.holding_message)
            for event in outcome.events:
                self.pipeline.publish(event)
            reply: dict[str, Any] = {"type": "ack", "id": command.id, "cmd": command.name,
                                     "changed": outcome.changed}
            if outcome.new_session is not None:
                reply["session"] = await self._new_session(outcome.new_session)
            log.info("operator: %s%s", command.name,
                     "" if outcome.changed else " (no change)")
            return reply
        except CommandError as exc:
            return {"type": "error", "id": cid, "error": str(exc)}
        except Exception:  # a bug must not cost the operator the console
            log.exception("operator: command failed")
            self.metrics.error("control")
            return {"type": "error", "id": cid, "error": "internal error (see the server log)"}
        finally:
            for wake in self._consoles.values():
                wake.set()

    async def _new_session(self, title: str) -> dict[str, Any]:
        if self.session_factory is None:
            raise CommandError("recording is off: there is no session to start")
        if self._session_lock.locked():
            raise CommandError("a new session is already being started")
        async with self._session_lock:
            try:
                info = self.session_factory(title)
                if inspect.isawaitable(info):
                    info = await info
            except CaptionerError as exc:
                self.metrics.error("new_session")
                log.error("operator: new session failed: %s", exc)
                raise CommandError(f"could not start a new session: {exc}") from None
            except Exception:
                self.metrics.error("new_session")
                log.exception("operator: new session failed")
                raise CommandError("could not start a new session (see the server log)") \
                    from None
        self.session_info = {k: v for k, v in dict(info or {}).items()
                             if isinstance(v, (str, int, float, bool)) or v is None}
        now = time.time_ns()
        self.pipeline.publish(Status("session_started", now, detail={
            **self.session_info, "title": title, "by": "operator"}))
        self.pipeline.publish(Status("clear", now, detail={"by": "operator"}))
        return self.session_info

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
                "new_session": self.session_factory is not None,
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


async def start_operator(server: CaptionServer, broadcaster: Broadcaster, pipeline: Any, *,
                         token: str | None = None,
                         session_factory: SessionFactory | None = None,
                         recording: Callable[[], Mapping[str, Any] | None] | None = None,
                         announce: Callable[[str, str], None] | None = None,
                         holding_message: str = "", info: Mapping[str, Any] | None = None,
                         web_root: Path = DEFAULT_WEB_ROOT,
                         environ: Mapping[str, str] | None = None) -> OperatorConsole:
    """Builds the operator console of a session and plugs it in.

    Call it once the server is started (so the URL has the real port) and before
    ``pipeline.run()``.

    Args:
        server: The caption server.
        broadcaster: The broadcaster that is one of ``pipeline.sinks``.
        pipeline: The live pipeline.
        token: The operator token from the config; None takes
            ``CAPTIONER_OPERATOR_TOKEN`` from the environment, else generates one.
        session_factory: Starts a new session record (see :data:`SessionFactory`).
        recording: Facts about the current record, or None when not recording.
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
    console = OperatorConsole(broadcaster, pipeline, token=token,
                              session_factory=session_factory, recording=recording,
                              holding_message=holding_message, info=info)
    console.install()
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
