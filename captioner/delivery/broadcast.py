"""Fan-out of captions to viewers: the catch-up state and the per-viewer bounded queues.

Two layers, following the guide's "pure logic + thin I/O":

* :class:`CatchUp` is plain data bookkeeping with no event loop inside: the ring of
  recent committed captions per track, the latest partial per track and input, and the
  latest status per state. It answers "what does a client that has seen everything up
  to ``seq`` N need to be told now?" (:meth:`CatchUp.snapshot`).
* :class:`Broadcaster` owns the viewers. :meth:`Broadcaster.publish` encodes an event
  once and hands the bytes to every viewer without ever waiting: straight to the socket
  of a viewer that is keeping up (the I/O layer's ``write_now`` fast path), else onto
  the viewer's bounded queue, which its sender task drains. The overflow policy,
  written down:

  - committed captions and statuses are never dropped for a viewer that keeps up;
  - a partial caption is skipped for a viewer whose queue is at least half full
    (partials are latest-wins: the next partial or the committed caption with the same
    id supersedes it);
  - a viewer whose queue is full is cut off (:attr:`Viewer.dropped` is set and its
    ``on_drop`` callback runs); it reconnects with ``since=<last seq>`` and catches up
    from the history, so being cut off loses nothing but time.

The websocket side (sending, closing) lives in :mod:`captioner.delivery.server`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from captioner.delivery.wire import PROTOCOL_VERSION, caption_to_dict, status_to_dict
from captioner.events import Caption, Status
from captioner.languages import LANGUAGES
from captioner.states import MOMENTARY

logger = logging.getLogger(__name__)

#: Statuses that describe a moment, not a state: sent live, never replayed on connect.
TRANSIENT_STATES = MOMENTARY

#: How many distinct (state, input, lang) statuses the catch-up state remembers.
MAX_STATUS_KEYS = 64


def dumps(msg: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as every message goes on the wire."""
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class _Entry:
    """One remembered message with its wire bytes, encoded once."""

    msg: dict[str, Any]
    data: bytes


class CatchUp:
    """What a connecting client must be sent to catch up, kept in bounded memory.

    Committed captions are kept per track (``lang``) in a ring of ``history_per_track``;
    ``seq`` is session-wide, so a client's resume point is one number across tracks.

    Args:
        history_per_track: Committed captions remembered per language track.
        session: Id of the caption session; a resume point from another session is
            ignored (the client gets the whole history instead).
        tracks: Languages announced in ``hello`` even before they carry captions.
        layout: The caption line rules the views follow, sent in ``hello`` as
            ``layout`` (see :func:`captioner.delivery.wire.layout_to_dict`); omitted if None.
    """

    def __init__(self, *, history_per_track: int = 500, session: str | None = None,
                 tracks: Iterable[str] = LANGUAGES,
                 layout: dict[str, Any] | None = None) -> None:
        if history_per_track < 1:
            raise ValueError("history_per_track must be at least 1")
        self.session = session or secrets.token_hex(6)
        self._history_per_track = history_per_track
        self._tracks: list[str] = list(tracks)
        self.layout = layout
        self._history: dict[str, deque[tuple[int, _Entry]]] = {}
        self._partials: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._statuses: OrderedDict[tuple[str, str | None, str | None], _Entry] = OrderedDict()
        self.last_seq: int | None = None
        # The highest seq a full ring has let go of: captions after it are all still here.
        self._forgotten_seq = 0

    @property
    def tracks(self) -> list[str]:
        """Languages known so far, the announced ones first."""
        return list(self._tracks)

    def add(self, msg: dict[str, Any]) -> bytes | None:
        """Records one wire message and returns its bytes to broadcast.

        Args:
            msg: A ``caption`` or ``status`` message as :mod:`captioner.delivery.wire` makes it.
                A committed caption without ``seq`` is given the next one.

        Returns:
            The encoded message, or ``None`` when it must not be sent: a committed
            caption whose ``seq`` is not after the last one (a duplicate), or a partial
            older than the revision already sent.
        """
        if msg.get("type") == "caption":
            return self._add_caption(msg)
        entry = _Entry(msg, dumps(msg))
        state = msg.get("state")
        if state not in TRANSIENT_STATES:
            key = (str(state), msg.get("input"), msg.get("lang"))
            self._statuses.pop(key, None)
            self._statuses[key] = entry  # re-inserted last: replay keeps event order
            while len(self._statuses) > MAX_STATUS_KEYS:
                self._statuses.popitem(last=False)
        return entry.data

    def _add_caption(self, msg: dict[str, Any]) -> bytes | None:
        lang = str(msg.get("lang"))
        if lang not in self._tracks:
            self._tracks.append(lang)
        key = (lang, str(msg.get("input")))
        if not msg.get("final"):
            current = self._partials.get(key)
            if (current is not None and current.msg.get("id") == msg.get("id")
                    and (current.msg.get("revision") or 0) > (msg.get("revision") or 0)):
                return None  # an older revision arriving late
            entry = _Entry(msg, dumps(msg))
            if msg.get("text"):
                self._partials.pop(key, None)
                self._partials[key] = entry
            else:  # an empty partial withdraws the one in progress
                self._partials.pop(key, None)
            return entry.data
        seq = msg.get("seq")
        if seq is None:
            seq = (self.last_seq or 0) + 1
            msg = {**msg, "seq": seq}
        elif self.last_seq is not None and seq <= self.last_seq:
            logger.warning("dropped committed caption seq=%s: not after seq=%s",
                           seq, self.last_seq)
            return None
        self.last_seq = seq
        partial = self._partials.get(key)
        if partial is not None and partial.msg.get("id") == msg.get("id"):
            del self._partials[key]
        entry = _Entry(msg, dumps(msg))
        ring = self._history.get(lang)
        if ring is None:
            ring = self._history[lang] = deque(maxlen=self._history_per_track)
        if len(ring) == ring.maxlen:
            self._forgotten_seq = max(self._forgotten_seq, ring[0][0])
        ring.append((seq, entry))
        return entry.data

    def holds_after(self, since_seq: int) -> bool:
        """Whether every committed caption after ``since_seq`` that was added is still
        remembered, on every track: then :meth:`entries` gives a client that has everything
        up to ``since_seq`` all it lacks. (:meth:`first_seq` cannot say this alone: a quiet
        track keeps older captions than a busy one.)"""
        return since_seq >= self._forgotten_seq

    def first_seq(self) -> int | None:
        """The oldest committed ``seq`` still remembered, or ``None`` if none."""
        firsts = [ring[0][0] for ring in self._history.values() if ring]
        return min(firsts) if firsts else None

    def hello(self, since_seq: int | None, session: str | None = None) -> dict[str, Any]:
        """The first message of every connection.

        Args:
            since_seq: The client's resume point, as it asked.
            session: The session the resume point belongs to, if the client said.
        """
        resumed = self._resume_point(since_seq, session)
        first = self.first_seq()
        hello = {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "session": self.session,
            "tracks": self.tracks,
            "last_seq": self.last_seq,
            "first_seq": first,
            "since": resumed,
            # True when captions the client has not seen were already forgotten.
            "gap": first is not None and (resumed or 0) < first - 1,
        }
        if self.layout is not None:
            hello["layout"] = self.layout
        return hello

    def _resume_point(self, since_seq: int | None, session: str | None) -> int | None:
        if session is not None and session != self.session:
            return None
        return since_seq

    def entries(self, since_seq: int | None, session: str | None = None) -> list[_Entry]:
        """The catch-up messages after ``hello``, in the order they must be sent.

        Statuses first (in the order they happened), then the committed captions with
        ``seq`` above the resume point (in ``seq`` order, all tracks merged), then the
        partials still in progress.
        """
        since = self._resume_point(since_seq, session)
        floor = -1 if since is None else since
        committed: list[tuple[int, _Entry]] = []
        for ring in self._history.values():
            tail = []
            for seq, entry in reversed(ring):
                if seq <= floor:
                    break
                tail.append((seq, entry))
            committed.extend(tail)
        committed.sort(key=lambda item: item[0])
        return [*self._statuses.values(), *(e for _, e in committed),
                *self._partials.values()]

    def snapshot(self, since_seq: int | None, session: str | None = None) -> list[dict]:
        """Everything a client connecting with ``since_seq`` is sent, ``hello`` first."""
        return [self.hello(since_seq, session),
                *(e.msg for e in self.entries(since_seq, session))]


class TooManyViewers(Exception):
    """Raised by :meth:`Broadcaster.attach` when ``max_clients`` viewers are connected."""


@dataclass(eq=False)
class Viewer:
    """One connected client: its catch-up messages and its bounded live queue.

    Attributes:
        backlog: Encoded catch-up messages, sent before anything from ``queue``.
        queue: Live messages, encoded; bounded by the broadcaster's ``client_queue``.
        on_drop: Called once, synchronously, when the viewer is cut off for being slow.
        write_now: Optional fast path set by the I/O layer: writes a message at once and
            returns True, or returns False when the connection cannot take it now. Used
            only while the viewer is ``idle`` and its queue is empty, so order is kept.
        idle: Set by the I/O layer while its sender waits on an empty queue.
        dropped: Set when the viewer was cut off.
        skipped_partials: Partials not queued because the viewer was behind.
    """

    backlog: list[bytes]
    queue: asyncio.Queue[bytes]
    on_drop: Callable[[], None] | None = None
    write_now: Callable[[bytes], bool] | None = None
    idle: bool = False
    dropped: bool = False
    skipped_partials: int = field(default=0)


class Broadcaster:
    """Publishes caption and status events to every connected viewer.

    All methods run on the event loop thread and never block or await.

    Args:
        history_per_track: Committed captions remembered per language for catch-up.
        client_queue: Live messages queued per viewer before it is cut off as too slow.
        max_clients: Viewers allowed at once; :meth:`attach` refuses more.
        session: Caption-session id sent in ``hello``; keep it stable when a restarted
            process resumes the same session (same ``seq`` numbers). Random if omitted.
        tracks: Languages announced to clients before they carry captions.
        layout: The caption line rules sent to the views in ``hello``.
    """

    def __init__(self, *, history_per_track: int = 500, client_queue: int = 256,
                 max_clients: int = 1000, session: str | None = None,
                 tracks: Iterable[str] = LANGUAGES,
                 layout: dict[str, Any] | None = None) -> None:
        if client_queue < 2:
            raise ValueError("client_queue must be at least 2")
        self.catchup = CatchUp(history_per_track=history_per_track, session=session,
                               tracks=tracks, layout=layout)
        self.client_queue = client_queue
        self.max_clients = max_clients
        self._viewers: set[Viewer] = set()
        self.dropped_viewers = 0

    @property
    def viewer_count(self) -> int:
        """Viewers connected now."""
        return len(self._viewers)

    @property
    def session(self) -> str:
        """The caption-session id."""
        return self.catchup.session

    @property
    def last_seq(self) -> int | None:
        """The ``seq`` of the last committed caption published, if any."""
        return self.catchup.last_seq

    def publish(self, event: Caption | Status) -> None:
        """Sends an event to every viewer and remembers what late joiners need.

        Args:
            event: A caption (partial or committed) or a status.
        """
        msg = caption_to_dict(event) if isinstance(event, Caption) else status_to_dict(event)
        self.publish_message(msg)

    def publish_message(self, msg: dict[str, Any]) -> None:
        """Like :meth:`publish`, for a message already in wire form."""
        data = self.catchup.add(msg)
        if data is None:
            return
        partial = msg.get("type") == "caption" and not msg.get("final")
        half = self.client_queue // 2
        for viewer in list(self._viewers):
            queue = viewer.queue
            # Most viewers keep up: write straight away, without waking a sender task.
            if viewer.idle and viewer.write_now is not None and queue.empty() \
                    and viewer.write_now(data):
                continue
            if partial and queue.qsize() >= half:
                viewer.skipped_partials += 1
                continue
            try:
                queue.put_nowait(data)
            except asyncio.QueueFull:
                self._drop(viewer)

    def snapshot(self, since_seq: int | None, session: str | None = None) -> list[dict]:
        """What a client connecting now with ``?since=since_seq`` is sent first.

        Args:
            since_seq: The last committed ``seq`` the client has, or ``None``.
            session: The session that ``since_seq`` belongs to, if known.

        Returns:
            ``hello``, then the current statuses, the committed captions after
            ``since_seq`` and the partials in progress, as wire dicts (shared with the
            history: treat them as read-only).
        """
        return self.catchup.snapshot(since_seq, session)

    def attach(self, since_seq: int | None = None, session: str | None = None,
               on_drop: Callable[[], None] | None = None) -> Viewer:
        """Registers a viewer; its backlog is the snapshot, its queue gets what follows.

        Taking the snapshot and registering happen in one step, so nothing is
        missed or sent twice.

        Raises:
            TooManyViewers: ``max_clients`` viewers are already attached.
        """
        if len(self._viewers) >= self.max_clients:
            raise TooManyViewers(f"{self.max_clients} viewers already connected")
        backlog = [dumps(self.catchup.hello(since_seq, session))]
        backlog.extend(e.data for e in self.catchup.entries(since_seq, session))
        viewer = Viewer(backlog=backlog, queue=asyncio.Queue(self.client_queue),
                        on_drop=on_drop)
        self._viewers.add(viewer)
        return viewer

    def detach(self, viewer: Viewer) -> None:
        """Forgets a viewer (idempotent)."""
        self._viewers.discard(viewer)

    def _drop(self, viewer: Viewer) -> None:
        self._viewers.discard(viewer)
        if viewer.dropped:
            return
        viewer.dropped = True
        self.dropped_viewers += 1
        logger.info("viewer cut off: %d messages queued (too slow)", viewer.queue.qsize())
        if viewer.on_drop is not None:
            try:
                viewer.on_drop()
            except Exception:  # a broken callback must not stop the fan-out
                logger.exception("on_drop callback failed")
