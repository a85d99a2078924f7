"""Reading a room's journals back for the bus: every event after a caption, in order.

:class:`~captioner.bus.publisher.RoomPublisher` republishes from this after the bus was
unreachable. The journal is the room's source of truth; this reads it as
``captioner export`` does (the same line parsers), but keeps captions and statuses in
their journal order, which :func:`~captioner.record.journal.read_journal` does not need
to.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from captioner.delivery.wire import caption_from_dict
from captioner.events import Caption, Status
from captioner.record.journal_read import status_from_dict

log = logging.getLogger(__name__)

Journals = Callable[[], Iterable[str | Path]]


def events_after(lines: Iterable[bytes], after_seq: int) -> Iterator[Caption | Status]:
    """The events of journal lines after the committed caption ``after_seq``.

    Committed captions come when their ``seq`` is above ``after_seq``; statuses when
    they were journaled after a caption at or above it (all of them for
    ``after_seq <= 0``). Partial captions (which a journal never holds), damaged lines
    and a torn last line are skipped: what cannot be read cannot be republished.
    """
    mark = 0
    for raw in lines:
        if not raw.strip():
            continue
        try:
            msg = json.loads(raw.decode("utf-8"))
            kind = msg.get("type") if isinstance(msg, dict) else None
            if kind == "caption":
                event: Caption | Status = caption_from_dict(msg)
            elif kind == "status":
                event = status_from_dict(msg)
            else:
                continue
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            log.debug("journal line skipped in the replay (%r)", exc)
            continue
        if isinstance(event, Caption):
            if not event.final or event.seq is None:
                continue
            mark = max(mark, event.seq)
            if event.seq > after_seq:
                yield event
        elif mark >= after_seq:
            yield event


def journal_replay(journals: Journals) -> Callable[[int], list[Caption | Status]]:
    """A ``replay`` for :class:`~captioner.bus.publisher.RoomPublisher` over the room's
    journals.

    Args:
        journals: Returns, each time it is called, the ``journal.jsonl`` files of the
            room's sequence of captions, oldest first: the current session's, and after
            an operator's "new session" the earlier ones of the same run too (sequence
            numbers go on across them).

    Returns:
        ``replay(after_seq)``: reads the files (blocking: the publisher calls it on a
        worker thread). A journal that cannot be read is logged and left out.
    """

    def replay(after_seq: int) -> list[Caption | Status]:
        lines: list[bytes] = []
        for path in journals():
            try:
                lines.extend(Path(path).read_bytes().split(b"\n"))
            except OSError as exc:
                log.warning("bus: cannot read the journal %s back (%s)", path,
                            exc.strerror or exc)
        return list(events_after(lines, after_seq))

    return replay
