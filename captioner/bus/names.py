"""Names on the bus: room ids, subjects, stream names, message ids, and URLs fit to show.

One JetStream stream per room, ``captioner-room-<ROOM>``, holding the room's events on
three subjects, in the order the room published them:

* ``captioner.room.<ROOM>.events.caption``: committed captions, each with the message id
  ``<ROOM>:<seq>`` (:attr:`~captioner.bus.messages.Published.message_id`), so that the
  broker drops a republished caption within its duplicate window;
* ``captioner.room.<ROOM>.events.partial``: partial captions (live only);
* ``captioner.room.<ROOM>.events.status``: statuses.

``captioner.room.<ROOM>.figures`` carries the room's figures snapshots over plain NATS,
outside the stream: nothing keeps them, the latest wins.

Everything here is pure.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from captioner.events import Caption, Status

#: What a room id may be: a NATS subject token, a JetStream stream name and a URL path
#: segment all at once (``/r/<ROOM>/``), and the same on a case-insensitive disk.
ROOM_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")

SUBJECT_PREFIX = "captioner.room"
STREAM_PREFIX = "captioner-room-"

#: The kinds of event subject, by what they carry.
KIND_CAPTION = "caption"
KIND_PARTIAL = "partial"
KIND_STATUS = "status"


def check_room(room: str) -> str:
    """Returns ``room`` if it is a valid room id.

    Raises:
        ValueError: naming the id and the rule (lowercase letters, digits, ``-`` and
            ``_``, starting with a letter or digit, at most 63 characters).
    """
    if not isinstance(room, str) or not ROOM_ID.fullmatch(room):
        raise ValueError(f"room id {room!r}: use lowercase letters, digits, '-' and '_' "
                         "(starting with a letter or digit, at most 63 characters), "
                         "for example 'pavilion-a'")
    return room


def stream_name(room: str) -> str:
    """The JetStream stream that holds a room's events."""
    return STREAM_PREFIX + check_room(room)


def room_of_stream(name: str) -> str | None:
    """The room whose stream ``name`` is; None for a stream that is not a room's."""
    if not name.startswith(STREAM_PREFIX):
        return None
    room = name[len(STREAM_PREFIX):]
    return room if ROOM_ID.fullmatch(room) else None


def events_subject(room: str, kind: str | None = None) -> str:
    """A room's event subject of one kind, or (``kind=None``) the wildcard of all three."""
    base = f"{SUBJECT_PREFIX}.{check_room(room)}.events"
    return f"{base}.>" if kind is None else f"{base}.{kind}"


def figures_subject(room: str) -> str:
    return f"{SUBJECT_PREFIX}.{check_room(room)}.figures"


def kind_of(event: Caption | Status) -> str:
    """Which event subject an event goes to."""
    if isinstance(event, Caption):
        return KIND_CAPTION if event.final and event.seq is not None else KIND_PARTIAL
    return KIND_STATUS


def status_message_id(room: str, status: Status) -> str:
    """A best-effort identity of a status (room, state, input, emitted millisecond), by
    which the broker drops a status republished from the journal within its duplicate
    window. The journal keeps ``emitted_at`` to the microsecond as a float, so only the
    millisecond survives the round trip."""
    return f"{room}:status:{status.state}:{status.input_id or ''}:{round(status.emitted_ns / 1e6)}"


def check_urls(url: str) -> None:
    """Checks a bus URL, or several separated by commas (a cluster).

    Raises:
        ValueError: saying what is wrong, without repeating a password.
    """
    parts = [part.strip() for part in url.split(",")]
    if not any(parts):
        raise ValueError("no URL given")
    for part in parts:
        if not part:
            raise ValueError("no URL between two commas (or after the last)")
        try:
            split = urlsplit(part)
            port = split.port
        except ValueError:
            raise ValueError("not a URL of the form nats://HOST:PORT") from None
        if split.scheme not in ("nats", "tls"):
            raise ValueError(f"the scheme must be nats:// or tls://, not {split.scheme or 'none'}")
        if not split.hostname:
            raise ValueError("no host in it")
        if port == 0:
            raise ValueError("port 0 is not a port to connect to")
        if split.path not in ("", "/") or split.query or split.fragment:
            raise ValueError("a bus URL has no path, query or fragment")


def redact_url(url: str) -> str:
    """A bus URL fit to show: any password (or a token given as the user part) is
    replaced by ``***``; a list of URLs separated by commas keeps its commas.

    >>> redact_url("nats://room:s3cret@bus.venue:4222")
    'nats://room:***@bus.venue:4222'
    """
    return ",".join(_redact_one(part.strip()) for part in url.split(","))


def _redact_one(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<an unreadable URL>"
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    # nats://TOKEN@host: a user part alone is a token, as secret as a password.
    user = userinfo.split(":", 1)[0] + ":***" if ":" in userinfo else "***"
    return urlunsplit((parts.scheme, f"{user}@{host}", parts.path, parts.query, parts.fragment))
