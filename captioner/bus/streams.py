"""A room's JetStream stream: its limits, its creation, and finding captions in it.

Within a room's stream the order is the order the room published in; committed captions
carry the message id ``<ROOM>:<seq>``, and their caption sequence numbers never go down
along the stream (the publisher sends them one at a time, in order, each only after the
one before it was acknowledged), which lets a reader find a caption by bisection
(:func:`first_after`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from captioner.bus.codec import CodecError, decode_published
from captioner.bus.messages import Published
from captioner.bus.names import KIND_CAPTION, events_subject, stream_name
from captioner.events import Caption

if TYPE_CHECKING:
    import nats.js

    from captioner.config import BusConfig

log = logging.getLogger(__name__)

GIB = 1024 ** 3


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """How much of a room the bus keeps.

    Attributes:
        max_age_s: Events older than this are discarded; 0 keeps them until
            ``max_bytes``. The room's journal stays the record.
        max_bytes: The stream's size limit (the oldest events go first); 0: no limit.
        replicas: Copies in a cluster (1 on a single server, 3 in a 3-node cluster).
        duplicate_window_s: How long the broker remembers a message id, so that a
            caption republished within it is stored once.
    """

    max_age_s: float = 30 * 86400.0
    max_bytes: int = GIB
    replicas: int = 1
    duplicate_window_s: float = 120.0

    @classmethod
    def from_config(cls, cfg: BusConfig) -> StreamLimits:
        return cls(max_age_s=cfg.max_age_days * 86400.0, max_bytes=cfg.max_bytes,
                   replicas=cfg.replicas)


async def ensure_stream(js: nats.js.JetStreamContext, room: str, limits: StreamLimits) -> None:
    """Creates the room's stream, or brings its limits to ``limits``.

    Raises:
        nats.js.errors.APIError: the server refused (a caller turns it into a BusError).
    """
    import nats.js.errors
    from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

    config = StreamConfig(
        name=stream_name(room), description=f"captioner room {room}",
        subjects=[events_subject(room)], retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE, discard=DiscardPolicy.OLD,
        max_age=limits.max_age_s or None, max_bytes=limits.max_bytes or -1,
        num_replicas=limits.replicas, duplicate_window=limits.duplicate_window_s)
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError as exc:
        if exc.err_code != 10058:  # "stream name already in use with a different configuration"
            raise
        log.info("bus: room %s: stream limits changed, updating the stream", room)
        await js.update_stream(config)


async def last_caption(js: nats.js.JetStreamContext, room: str) -> tuple[int, Published] | None:
    """The room's last committed caption on the bus and its stream sequence; None when
    the stream holds none."""
    import nats.js.errors

    try:
        msg = await js.get_last_msg(stream_name(room), events_subject(room, KIND_CAPTION))
    except nats.js.errors.NotFoundError:
        return None
    try:
        return msg.seq, decode_published(msg.data or b"")
    except CodecError as exc:
        log.warning("bus: room %s: the last caption on the bus is unreadable (%s)", room, exc)
        return None


async def first_after(js: nats.js.JetStreamContext, room: str, caption_seq: int,
                      first_seq: int, last_seq: int) -> int:
    """The stream sequence of the first committed caption whose caption ``seq`` is above
    ``caption_seq`` (``last_seq + 1`` when there is none yet): where a reader that has
    every caption up to ``caption_seq`` starts.

    Bisection over the stream sequences, each step one "next caption at or after"
    request, so about log2(stream length) requests (17 for a day of a busy room).
    """
    import nats.js.errors

    name, subject = stream_name(room), events_subject(room, KIND_CAPTION)
    lo, hi, found = max(first_seq, 1), last_seq, last_seq + 1
    while lo <= hi:
        mid = (lo + hi) // 2
        try:
            msg = await js.get_msg(name, seq=mid, subject=subject, next=True)
        except nats.js.errors.NotFoundError:
            hi = mid - 1  # no caption at or after mid
            continue
        try:
            seq = decode_published(msg.data or b"").seq
        except CodecError:
            seq = None
        if seq is None:  # unreadable: count it as below and look further on
            lo = msg.seq + 1
        elif seq > caption_seq:
            found, hi = msg.seq, mid - 1
        else:
            lo = msg.seq + 1
    return found


async def caption_at(js: nats.js.JetStreamContext, room: str, caption_seq: int
                     ) -> Caption | None:
    """The committed caption ``caption_seq`` as the room's stream holds it; None when the
    stream does not hold it (never sent, or discarded by the limits)."""
    import nats.js.errors

    info = await js.stream_info(stream_name(room))
    found = await first_after(js, room, caption_seq - 1, info.state.first_seq,
                              info.state.last_seq)
    if found > info.state.last_seq:
        return None
    try:
        msg = await js.get_msg(stream_name(room), seq=found)
        event = decode_published(msg.data or b"").event
    except (nats.js.errors.NotFoundError, CodecError):
        return None
    return event if isinstance(event, Caption) and event.seq == caption_seq else None
