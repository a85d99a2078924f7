"""Reading a journal back: every event that can be read, and what was damaged.

The inverse of :class:`captioner.record.journal.Journal`: one JSON object per line in
the wire format of :mod:`captioner.delivery.wire`. Reading never gives up on damage:
a complete line that is not a valid event is skipped and its number reported, and a
last line without its newline that does not parse (a *torn tail*, a write cut off by a
crash) is skipped with a warning; :meth:`Journal.open_existing
<captioner.record.journal.Journal.open_existing>` cuts it off before appending.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from captioner.delivery.wire import caption_from_dict
from captioner.errors import CaptionerError
from captioner.events import Caption, Status

log = logging.getLogger(__name__)


def status_from_dict(msg: dict[str, Any]) -> Status:
    """Reads a status message back: the inverse of ``wire.status_to_dict``.

    Raises:
        KeyError, TypeError, ValueError: the message is not a status.
    """
    extras = {k: v for k, v in msg.items() if k not in ("type", "state", "emitted_at", "input")}
    input_id = msg.get("input")
    return Status(
        state=str(msg["state"]),
        emitted_ns=int(float(msg.get("emitted_at", 0)) * 1e9),
        input_id=str(input_id) if input_id is not None else None,
        detail=extras,
    )


@dataclass(frozen=True)
class JournalRead:
    """What :func:`read_journal` found in a journal file.

    Attributes:
        captions: Committed captions in file order.
        statuses: Status events in file order.
        bad_lines: 1-based numbers of complete lines that are not JSON objects or not
            valid events; everything else was still read.
        torn_tail: The last line had no newline and could not be parsed (a write cut
            off by a crash); it was skipped.
        valid_size: Bytes before the torn tail, or the file size when there is none
            (where a resumed journal continues).
        last_seq: Highest ``seq`` of the committed captions, ``None`` if there are none.
    """

    captions: list[Caption] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)
    torn_tail: bool = False
    valid_size: int = 0
    last_seq: int | None = None


def _parse_line(raw: bytes) -> Caption | Status | None:
    """One journal line as an event; ``None`` for a valid object of an unknown type.

    Raises:
        ValueError: the line is not a JSON object or not a valid event.
    """
    try:
        msg = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(msg, dict):
        raise ValueError("not a JSON object")
    kind = msg.get("type")
    try:
        if kind == "caption":
            return caption_from_dict(msg)
        if kind == "status":
            return status_from_dict(msg)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"invalid {kind}: {exc!r}") from None
    # A type from a later protocol version: not damage, just nothing we can use.
    log.debug("journal line of unknown type %r skipped", kind)
    return None


def read_journal(path: str | Path) -> JournalRead:
    """Reads a journal, skipping what is damaged.

    Blank lines are ignored. Partial captions (which a journal should never hold) are
    ignored too. A torn last line is skipped with a warning.

    Args:
        path: The ``journal.jsonl`` file.

    Raises:
        CaptionerError: the file does not exist or cannot be read.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CaptionerError(f"{path}: no such journal file") from None
    except OSError as exc:
        raise CaptionerError(f"{path}: cannot read the journal ({exc.strerror or exc})") from None
    captions: list[Caption] = []
    statuses: list[Status] = []
    bad: list[int] = []
    torn = False
    valid_size = len(data)
    last_seq: int | None = None
    offset = 0
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, 1):
        complete = number < len(lines)  # the piece after the last newline has none
        start, offset = offset, offset + len(raw) + (1 if complete else 0)
        if not raw.strip(b" \t\r"):
            continue
        try:
            event = _parse_line(raw)
        except ValueError as exc:
            if complete:
                bad.append(number)
                log.warning("%s: line %d is damaged and was skipped (%s)", path, number, exc)
            else:
                torn = True
                valid_size = start
                log.warning("%s: the last line (%d) was cut off, probably by a crash while "
                            "writing; skipped %d bytes", path, number, len(raw))
            continue
        # A parseable last line without its newline is kept (a resumed journal adds
        # the newline).
        if isinstance(event, Caption):
            if event.final:
                captions.append(event)
                if event.seq is not None:
                    last_seq = event.seq if last_seq is None else max(last_seq, event.seq)
        elif isinstance(event, Status):
            statuses.append(event)
    return JournalRead(captions, statuses, bad, torn, valid_size, last_seq)
