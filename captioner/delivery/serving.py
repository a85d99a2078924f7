"""The composition root of the serving side: what audiences of a room get, built from
the room's caption bus alone.

:func:`build_serving` subscribes the viewers' fan-out, the ``--print`` output and the
operator console to the bus, and starts the caption server. It reads nothing of the
room but the bus: its events, its figures, its commands.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from captioner.bus.base import CaptionBus, Subscription
from captioner.bus.messages import Published
from captioner.config import Config
from captioner.delivery.broadcast import Broadcaster
from captioner.delivery.wire import encode, layout_to_dict
from captioner.errors import CaptionerError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingPlan:
    """What the serving side is asked to do.

    Attributes:
        serve: Serve the views, the viewers' websocket and the operator console.
        print_events: Write every event as a JSON line on stdout (``--print``).
        host: The address to serve on (None: the config's).
        port: The port (None: the config's; 0 picks a free one).
        session: The caption-session id viewers resume in (the session folder's name).
        info: Static facts for the operator console (``model``, ``title``, ``demo``).
    """

    serve: bool = True
    print_events: bool = False
    host: str | None = None
    port: int | None = None
    session: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict)


def printer(stream: TextIO | None = None) -> Callable[[Published], None]:
    """A bus subscriber that writes every event as a JSON line (for ``--print``);
    audio levels, several a second, are left out."""

    def handler(published: Published) -> None:
        event = published.event
        if getattr(event, "state", None) == "levels":
            return
        out = stream or sys.stdout
        out.write(encode(event) + "\n")
        out.flush()

    return handler


@dataclass
class Serving:
    """The serving side of a room, running.

    Attributes:
        broadcaster: The viewers' fan-out; None when not serving.
        server: The caption server; None when not serving.
        console: The operator console; None when not serving.
    """

    bus: CaptionBus
    broadcaster: Broadcaster | None = None
    server: Any = None
    console: Any = None
    subscriptions: list[Subscription] = field(default_factory=list)

    def health(self) -> dict[str, Any]:
        """The room's part of ``/healthz``, from its figures."""
        figures = self.bus.figures
        if figures is None:
            return {"committed": 0, "inputs": {}, "translation": False, "recording": False}
        return {
            "committed": figures.committed,
            # Which pass of a recording plays (the demo loops); absent for live inputs.
            **({"input_pass": figures.input_pass} if figures.input_pass is not None else {}),
            "inputs": {i.id: {"passes": i.passes, "dropped_chunks": i.dropped_chunks}
                       for i in figures.inputs},
            "translation": bool(figures.translation_engines),
            "recording": figures.recording is not None,
        }

    async def close(self) -> None:
        for subscription in self.subscriptions:
            subscription.close()
        if self.console is not None:
            self.console.close()
        if self.server is not None:
            await self.server.close()


async def build_serving(cfg: Config, plan: ServingPlan, bus: CaptionBus, *,
                        announce: Callable[[str, str], None] | None = None,
                        qr: Callable[[str], str | None] | None = None) -> Serving:
    """Subscribes the room's audiences to its bus and starts serving.

    Args:
        cfg: The loaded config (``[server]``, ``[captions]``).
        plan: What to serve.
        bus: The room's caption bus.
        announce: Called as ``announce(name, url)`` for each URL served.
        qr: Renders the phone URL as a terminal QR code (or None).

    Raises:
        CaptionerError: The port is taken, or the operator token is too weak.
    """
    serving = Serving(bus)
    if plan.print_events:
        serving.subscriptions.append(bus.subscribe(printer()))
    if not plan.serve:
        return serving
    from captioner.delivery.operator import start_operator
    from captioner.delivery.server import CaptionServer

    broadcaster = Broadcaster(history_per_track=cfg.server.history_per_track,
                              client_queue=cfg.server.client_queue,
                              max_clients=cfg.server.max_clients, session=plan.session,
                              layout=layout_to_dict(cfg.captions))
    # From the start: viewers of a resumed session catch up on what was said before.
    serving.subscriptions.append(bus.subscribe(
        lambda published: broadcaster.publish(published.event), since_seq=0))
    serving.broadcaster = broadcaster
    server = CaptionServer(broadcaster, host=plan.host or cfg.server.host,
                           port=cfg.server.port if plan.port is None else plan.port,
                           health=serving.health)
    try:
        await server.start()
    except OSError as exc:
        raise CaptionerError(f"cannot serve on port {server.port}: {exc.strerror or exc}",
                             hint="another captioner may be running; use --port") from None
    serving.server = server
    urls = server.urls()
    if announce is not None:
        print("captioner: serving captions", file=sys.stderr)
        for name in ("screen", "overlay", "phone", "ws"):
            announce(name, urls[name])
        code = qr(urls["phone"]) if qr is not None else None
        if code:
            print(code, file=sys.stderr)
    try:
        serving.console = await start_operator(
            server, broadcaster, bus, token=cfg.server.operator_token or None,
            holding_message=cfg.server.holding_message, announce=announce,
            info=dict(plan.info))
    except BaseException:
        await server.close()
        raise
    return serving
