"""A room's uplink to the venue's bus (``captioner run --bus URL --room ID``).

The room's own bus stays the in-process :class:`~captioner.bus.local.LocalBus`: its
journal, its views and its console never wait on the network. The uplink follows that
bus onto NATS JetStream with a :class:`~captioner.bus.publisher.RoomPublisher`, which
republishes from the room's journals whatever the venue's bus missed while it was
unreachable. The operator learns of each change of the uplink's state: a line on the
terminal, and a ``bus_down`` / ``bus_connected`` status in the console's log.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from captioner.bus.connection import BusError, BusLink, BusOptions
from captioner.bus.publisher import PublisherState, RoomPublisher
from captioner.bus.streams import StreamLimits
from captioner.config import BusConfig
from captioner.errors import CaptionerError
from captioner.events import Status
from captioner.record.replay import journal_replay
from captioner.room.room import Room
from captioner.states import BUS_CONNECTED, BUS_DOWN

log = logging.getLogger(__name__)


def room_id(cfg: BusConfig, given: str | None) -> str:
    """The room's id on the venue's bus: ``--room``, else ``[bus] room``.

    Raises:
        CaptionerError: There is none (a venue's rooms must be told apart).
    """
    room = given or cfg.room
    if not room:
        raise CaptionerError("--bus needs the room's id on the venue's bus",
                             hint="add --room ROOM_ID (or [bus] room in the config), e.g. "
                             "--room pavilion-a")
    return room


def bus_status(state: PublisherState, room: str) -> Status | None:
    """The status the console shows for a change of the uplink's state, or None."""
    now = time.time_ns()
    if state.state == "down":
        error = state.error
        return Status(BUS_DOWN, now, detail={
            "url": state.url, "room": room, "error": error.message if error else "",
            "hint": (error.hint or "") if error else ""})
    if state.state == "connected":
        return Status(BUS_CONNECTED, now, detail={
            "url": state.url, "room": room, "acked_seq": state.acked_seq})
    return None


def describe_state(state: PublisherState, room: str) -> str:
    """The terminal's line for a change of the uplink's state."""
    if state.state == "down":
        error = state.error
        line = f"captioner: bus {state.url}: room {room} cannot publish"
        if error is not None:
            line += f": {error.message}"
            if error.hint:
                line += f" (hint: {error.hint})"
        return line + "; captioning goes on here, and catches up when the bus is back"
    if state.state == "catching_up":
        return f"captioner: bus {state.url}: room {room} catching up from its journal"
    if state.state == "connected":
        return f"captioner: bus {state.url}: room {room} published live"
    return f"captioner: bus {state.url}: room {room} connecting"


@dataclass
class Uplink:
    """A room publishing to the venue's bus."""

    publisher: RoomPublisher
    link: BusLink

    async def close(self) -> None:
        """Gives what is queued a moment to go out, then disconnects (the journal has
        the rest for the next run's catch-up)."""
        await self.publisher.close()
        await self.link.close()


async def start_uplink(cfg: BusConfig, url: str, room: Room,
                       say: Callable[[str], None] | None = None) -> Uplink | None:
    """Starts publishing a room's bus to the venue's bus at ``url``.

    Never fails the room: a malformed URL or credentials file is said in one line and
    the room goes on in local mode (None); a bus that cannot be reached now is joined
    when it comes up.
    """
    say = say or (lambda line: print(line, file=sys.stderr))
    last: list[str] = []

    def on_state(state: PublisherState) -> None:
        line = describe_state(state, room.bus.room)
        if last and last[0] == line:
            return
        last[:] = [line]
        say(line)
        (log.warning if state.state == "down" else log.info)("%s", line)
        status = bus_status(state, room.bus.room)
        if status is not None:
            room.pipeline.announce(status)

    journals = room.record.journal_paths if room.record is not None else list
    try:
        link = BusLink(BusOptions.from_config(cfg, url=url))
        publisher = RoomPublisher(link, room.bus, replay=journal_replay(journals),
                                  limits=StreamLimits.from_config(cfg), on_state=on_state)
    except BusError as exc:
        hint = f" (hint: {exc.hint})" if exc.hint else ""
        say(f"captioner: bus: {exc.message}{hint}; the room goes on without the venue's bus")
        return None
    if room.record is None:
        log.warning("bus: the room keeps no journal (--no-record): what the bus misses "
                    "while it is unreachable is not republished")
    await publisher.start()
    return Uplink(publisher, link)
