"""The caption bus over NATS JetStream: the room side, the audience side, the rooms.

Why one stream per room, not one stream for every room: each room gets its own
retention (``[bus] max_age_days``, ``max_bytes``), its own permissions (a room's
credentials can reach only its own stream's API subjects), a room can be removed or
purged alone, and in a cluster each stream is placed and replicated on its own. A venue
has dozens of rooms, well within what a server holds. The names are in
:mod:`captioner.bus.names`, the stream itself in :mod:`captioner.bus.streams`.

:class:`~captioner.bus.publisher.RoomPublisher` is the room side,
:class:`~captioner.bus.edge.JetStreamBus` the audience side (a serving edge),
:func:`list_rooms` the venue's list.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from captioner.bus.connection import BusError, BusLink, BusOptions, describe
from captioner.bus.edge import JetStreamBus
from captioner.bus.names import room_of_stream
from captioner.bus.publisher import PublisherState, RoomPublisher
from captioner.bus.streams import StreamLimits, last_caption

log = logging.getLogger(__name__)

__all__ = ["BusError", "BusLink", "BusOptions", "JetStreamBus", "PublisherState", "RoomInfo",
           "RoomPublisher", "StreamLimits", "list_rooms"]


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """A room as the bus knows it (for a venue index).

    Attributes:
        room: The room id.
        stream: Its stream's name.
        messages: Events the stream holds.
        bytes: Their size.
        last_caption_seq: The last committed caption's ``seq``; None before the first.
        last_caption_ns: When that caption was emitted (wall clock).
        created_ns: When the stream was made: a room's stream made anew (removed,
            another run) is another stream, with captions numbered from 1 again.
    """

    room: str
    stream: str
    messages: int
    bytes: int
    last_caption_seq: int | None = None
    last_caption_ns: int | None = None
    created_ns: int | None = None


async def list_rooms(link: BusLink) -> list[RoomInfo]:
    """The rooms on the bus, by room id.

    Raises:
        BusError: the bus cannot be reached or refused the listing.
    """
    session = link.current
    if session is None:
        raise BusError(f"not connected to the bus at {link.url}",
                       "open the link first (BusLink.open)", kind="lost")
    rooms: list[RoomInfo] = []
    try:
        offset = 0
        while True:
            page = await session.js.streams_info(offset)
            for info in page:
                room = room_of_stream(info.config.name or "")
                if room is None:
                    continue
                last = await last_caption(session.js, room)
                caption = last[1].event if last is not None else None
                rooms.append(RoomInfo(room, info.config.name or "", info.state.messages,
                                      info.state.bytes,
                                      last[1].seq if last is not None else None,
                                      caption.emitted_ns if caption is not None else None,
                                      _ns(info.created)))
            offset += len(page)
            if not page or len(page) < 256:
                break
    except Exception as exc:
        raise describe(exc, link.options) from None
    return sorted(rooms, key=lambda r: r.room)


def _ns(when: datetime | None) -> int | None:
    if when is None:
        return None
    return int(when.timestamp()) * 10**9 + when.microsecond * 1000
