"""A venue's rooms as a serving edge shows them: each room's title and state, the
addresses of its views, and the venue index page.

Pure: events, figures and clock readings in, state and bytes out; no socket, no event
loop. :mod:`captioner.delivery.edge` feeds a :class:`RoomState` from each room's bus,
:mod:`captioner.delivery.edgeserver` sends what :func:`index_page` renders.

Where a room's state comes from (``docs/protocol.md`` has the statuses):

* ``stopped`` ends a room; ``listening``, ``resumed``, ``session_started`` and
  ``session_resumed`` say it is on again;
* ``paused`` and ``resumed`` (and ``listening``, as the views take it) pause and resume
  its screens, and the room's figures say ``paused`` four times a second;
* the room's figures carry its session's title (``captioner run --title``),
  ``session_started`` (the operator's new session) names it at once, and ``stopped``
  says it too, for an edge that finds the room after it stopped; a room without a
  title is named by its id (a ``programme_item``'s title is the talk's, not the room's);
* a room that has sent nothing (no event, no figures) for :data:`QUIET_S` is shown as
  ended too: it stopped without saying so, or it is off the bus.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from captioner.bus.messages import RoomFigures
from captioner.events import Caption, Status
from captioner.states import LISTENING, PAUSED, RESUMED, SESSION_RESUMED, SESSION_STARTED, STOPPED

LIVE = "live"
PAUSED_STATE = "paused"
ENDED = "ended"

#: A room heard from (an event, figures) less than this long ago is live.
QUIET_S = 60.0

_ON_AGAIN = frozenset({LISTENING, RESUMED, SESSION_STARTED, SESSION_RESUMED})
_UNPAUSE = frozenset({LISTENING, RESUMED})
_NAMING = frozenset({SESSION_STARTED, STOPPED})

#: How each state is named on the index page (English, Russian).
STATE_WORDS = {LIVE: ("Live", "Идёт"), PAUSED_STATE: ("Paused", "Пауза"),
               ENDED: ("Ended", "Завершено")}

# What a Host header may be for the addresses an edge hands out (QR codes, urls.json).
_HOST = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")


@dataclass
class RoomState:
    """What the venue index says of one room.

    Attributes:
        room: The room id.
        title: The session's title, from the room's figures or statuses; empty until
            one says it.
        paused: Whether the room's screens are paused.
        stopped: Whether the room said it stopped.
        heard_ns: When the room last emitted anything this edge saw (the room's clock).
        last_seq: The last committed caption's ``seq``.
    """

    room: str
    title: str = ""
    paused: bool = False
    stopped: bool = False
    heard_ns: int | None = None
    last_seq: int | None = None

    def event(self, event: Caption | Status) -> None:
        """Takes in one event of the room, live or from its history."""
        self._heard(event.emitted_ns)
        if isinstance(event, Caption):
            if event.final and event.seq is not None:
                self.last_seq = max(self.last_seq or 0, event.seq)
            return
        state = event.state
        # Only a session's title names the room (a new session's, or the one a stopped
        # room says it had): a programme item's is the talk's.
        title = event.detail.get("title") if (
            state in _NAMING and isinstance(event.detail, Mapping)) else None
        if isinstance(title, str) and title.strip():
            self.title = title.strip()
        if state == STOPPED:
            self.stopped = True
        elif state in _ON_AGAIN:
            self.stopped = False
        if state == PAUSED:
            self.paused = True
        elif state in _UNPAUSE:
            self.paused = False

    def figures(self, figures: RoomFigures) -> None:
        """Takes in one figures snapshot (a live room sends four a second)."""
        self._heard(figures.at_ns)
        self.paused = figures.paused
        if figures.title.strip():  # empty: a room without a title, or older than the field
            self.title = figures.title.strip()

    def heard(self, at_ns: int | None) -> None:
        """Counts the room as heard from at ``at_ns`` (a caption the listing reports)."""
        if at_ns is not None:
            self._heard(at_ns)

    def _heard(self, at_ns: int) -> None:
        if self.heard_ns is None or at_ns > self.heard_ns:
            self.heard_ns = at_ns

    def state(self, now_ns: int, quiet_s: float = QUIET_S) -> str:
        """``live``, ``paused`` or ``ended`` at ``now_ns`` (wall clock)."""
        if self.stopped or self.heard_ns is None or now_ns - self.heard_ns > quiet_s * 1e9:
            return ENDED
        return PAUSED_STATE if self.paused else LIVE

    @property
    def name(self) -> str:
        """What the room is called: its title, else its id."""
        return self.title or self.room


def room_path(room: str) -> str:
    """The path of a room's views on an edge: ``/r/ROOM/``."""
    return f"/r/{quote(room, safe='')}/"


def base_url(headers: Mapping[str, str], fallback: str) -> str:
    """The address the viewer reached this edge by: its ``Host`` header, with ``https``
    when the reverse proxy says so (``X-Forwarded-Proto``); ``fallback`` when the header
    is missing or not a plain host and port."""
    host = (headers.get("Host") or "").strip()
    if not _HOST.match(host):
        return fallback.rstrip("/")
    proto = (headers.get("X-Forwarded-Proto") or "").split(",")[0].strip().lower()
    return f"{'https' if proto == 'https' else 'http'}://{host}"


def room_urls(base: str, room: str) -> dict[str, str]:
    """Where a room's views are on an edge reached at ``base`` (``http://host:port``).

    Returns:
        ``{"phone": ..., "screen": ..., "overlay": ..., "ws": ...}``, as
        :func:`captioner.delivery.views.view_urls` gives them for one room's server.
    """
    prefix = base.rstrip("/") + room_path(room)
    ws = "wss" + prefix[5:] if prefix.startswith("https:") else "ws" + prefix[4:]
    return {"phone": prefix, "screen": prefix + "screen",
            "overlay": prefix + "overlay?lang=both", "ws": ws + "ws"}


def room_entry(state: RoomState, now_ns: int, **extra: Any) -> dict[str, Any]:
    """One room of ``/rooms.json``."""
    return {"room": state.room, "title": state.name, "state": state.state(now_ns),
            "last_seq": state.last_seq, "path": room_path(state.room), **extra}


def index_page(rooms: Iterable[RoomState], now_ns: int, *, refresh_s: int = 10) -> bytes:
    """The venue index: every room with its title, state, views and a QR code of its
    phone view. It loads nothing but the edge's own files and reloads itself every
    ``refresh_s`` (no script: the views' content security policy holds here too)."""
    items = [_room_item(state, now_ns) for state in sorted(rooms, key=lambda s: s.room)]
    body = "\n".join(items) if items else (
        '  <p class="empty">No room is on the air yet. Rooms appear here as they start. '
        '<span lang="ru">Трансляций пока нет.</span></p>')
    page = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta http-equiv="refresh" content="{int(refresh_s)}">
  <title>Live captions · Субтитры: rooms</title>
  <link rel="icon" href="favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="base.css">
  <link rel="stylesheet" href="venue.css">
</head>
<body class="venue">
  <header class="head">
    <h1>Live captions <span class="sep">·</span> <span lang="ru">Субтитры</span></h1>
    <p>Choose a room, or scan its code with your phone.
      <span lang="ru">Выберите зал или отсканируйте его код.</span></p>
  </header>
  <main class="rooms">
{body}
  </main>
</body>
</html>
"""
    return page.encode()


def _room_item(state: RoomState, now_ns: int) -> str:
    current = state.state(now_ns)
    en, ru = STATE_WORDS[current]
    href = html.escape(room_path(state.room).lstrip("/"), quote=True)
    name = html.escape(state.name)
    return f"""  <article class="room {current}" data-room="{html.escape(state.room, quote=True)}">
    <a class="qr" href="{href}"><img src="{href}qr.svg" width="132" height="132"
      alt="QR code of the phone view of {html.escape(state.name, quote=True)}"></a>
    <div class="about">
      <h2><a href="{href}">{name}</a></h2>
      <p class="state" data-state="{current}">{en} <span lang="ru">· {ru}</span></p>
      <p class="views"><a href="{href}">Phone</a> · <a href="{href}screen">Screen</a>
        · <a href="{href}overlay?lang=both">Overlay</a></p>
    </div>
  </article>"""
