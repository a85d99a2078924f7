"""The archive of a venue: every room on the bus, found as it appears, archived.

:class:`Archiver` is the archive's composition root: one :class:`~captioner.bus.
connection.BusLink`, one :class:`~captioner.archive.consumer.RoomConsumer` per room
(started when :func:`~captioner.bus.jetstream.list_rooms` first shows the room, looked
for every ``poll_s``), one small pool of writer threads shared by the rooms, and the
lines an organiser reads. :func:`run_archive` is ``captioner archive``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from captioner.archive.consumer import RoomConsumer
from captioner.bus.connection import BusError, BusLink, BusOptions, LinkState
from captioner.bus.jetstream import list_rooms
from captioner.errors import CaptionerError

log = logging.getLogger(__name__)

#: An archive's name: it names the durable consumer (``archive-<NAME>``) in every room.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,40}")

#: Failures at start that waiting does not mend: the command stops with the line.
FATAL = frozenset({"url", "auth", "tls", "jetstream"})

Report = Callable[[str], None]


def check_name(name: str) -> str:
    """Returns ``name`` if it can name an archive's consumers.

    Raises:
        CaptionerError: naming the rule.
    """
    if not NAME.fullmatch(name):
        raise CaptionerError(f"archive name {name!r}: use letters, digits, '-' and '_' "
                             "(at most 41)", hint="for example --name main")
    return name


class Archiver:
    """Archives every room on the bus into ``root/<room>/<session folder>/``.

    Args:
        link: The connection to the bus (:meth:`start` keeps it up).
        root: The archive's folder.
        name: The archive's name; its consumers are ``archive-<name>``. Two archives of
            one bus need two names (with one they would share, not each get, the events).
        poll_s: How often to look for new rooms.
        report: Gets the lines an organiser reads.
        report_every_s: How often each room's progress is reported.
        **consumer: Passed to each :class:`RoomConsumer` (``batch``, ``fetch_s``,
            ``retry_s``).

    Raises:
        CaptionerError: ``name`` cannot name a consumer.
    """

    def __init__(self, link: BusLink, root: str | Path, *, name: str = "main",
                 poll_s: float = 5.0, report: Report | None = None,
                 report_every_s: float = 60.0, **consumer: float) -> None:
        self.link = link
        self.root = Path(root)
        self.consumer_name = f"archive-{check_name(name)}"
        self.rooms: dict[str, RoomConsumer] = {}
        self._poll_s = poll_s
        self._report = report or (lambda line: log.info("archive: %s", line))
        self._report_every_s = report_every_s
        self._consumer_options = consumer
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="archive")
        self._tasks: list[asyncio.Task] = []
        self._found = asyncio.Condition()
        self._reported: dict[str, int] = {}
        self._closing = False
        self._listing_error: str | None = None

    async def start(self) -> None:
        """Starts looking for rooms and archiving them; the bus may still be down."""
        self.link.add_listener(self._on_link)
        state = self.link.state
        if state.connected or state.error is not None:
            self._on_link(state)  # what the first attempt found, before this start
        self.link.start()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._discover(), name="archive-discover"))
        self._tasks.append(loop.create_task(self._report_periodically(),
                                            name="archive-report"))

    async def wait_room(self, room: str) -> RoomConsumer:
        """The room's consumer, once the archive has found the room."""
        async with self._found:
            await self._found.wait_for(lambda: room in self.rooms)
        return self.rooms[room]

    async def wait_archived(self, room: str, seq: int) -> None:
        """Waits until the room's caption ``seq`` is archived and acknowledged."""
        await (await self.wait_room(room)).wait_archived(seq)

    def progress(self) -> list[str]:
        """One line per room that archived captions since the last call."""
        lines = []
        for room, consumer in sorted(self.rooms.items()):
            before = self._reported.get(room, 0)
            if consumer.captions > before:
                lines.append(f"room {room}: {consumer.captions - before} captions archived "
                             f"(up to #{consumer.acked_seq}) in {consumer.folder}")
                self._reported[room] = consumer.captions
        return lines

    async def close(self) -> None:
        """Stops every room after its batch in hand; their journals are closed on disk."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await asyncio.gather(*(consumer.close() for consumer in self.rooms.values()))
        self._executor.shutdown(wait=True)
        await self.link.close()

    def summary(self) -> list[str]:
        """Where each room's record is, and how to export it."""
        return [f"room {room}: {consumer.captions} captions archived by this run; "
                f"export with: captioner export {consumer.folder}"
                for room, consumer in sorted(self.rooms.items()) if consumer.folder]

    # -- inside -----------------------------------------------------------------------------

    def _on_link(self, state: LinkState) -> None:
        if state.connected:
            self._report(f"connected to the bus at {state.url}; archiving into {self.root} "
                         f"(consumer {self.consumer_name})")
        elif state.error is not None:
            self._report(f"{state.error.message}; trying again")

    async def _discover(self) -> None:
        # Not only cancelled: asyncio.wait_for (in nats-py's requests) can swallow a
        # cancellation that meets a reply (Python 3.11), so the loop looks at a flag too.
        while not self._closing:
            session = await self.link.session()
            try:
                found = await list_rooms(self.link)
            except BusError as exc:
                if not session.lost.is_set() and exc.message != self._listing_error:
                    self._report(f"cannot list the rooms: {exc.message}; trying again")
                self._listing_error = exc.message
                found = []
            else:
                self._listing_error = None
            new = [info.room for info in found if info.room not in self.rooms]
            for room in new:
                self._add(room)
            if new:
                async with self._found:
                    self._found.notify_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.lost.wait(), self._poll_s)

    def _add(self, room: str) -> None:
        consumer = RoomConsumer(self.link, room, self.root, consumer=self.consumer_name,
                                executor=self._executor, report=self._report,
                                **self._consumer_options)  # type: ignore[arg-type]
        self.rooms[room] = consumer
        consumer.start()

    async def _report_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._report_every_s)
            for line in self.progress():
                self._report(line)


def print_report(line: str) -> None:
    """An organiser's line on stderr, with the time of day."""
    print(f"{time.strftime('%H:%M:%S')} archive: {line}", file=sys.stderr, flush=True)


async def run_archive(options: BusOptions, root: str | Path, *, name: str = "main",
                      poll_s: float = 5.0, report: Report = print_report) -> int:
    """``captioner archive``: archives until SIGINT or SIGTERM; returns the exit status.

    Raises:
        BusError: the bus refuses us for a reason that waiting does not mend (a wrong
            URL, credentials, TLS, no JetStream): one line naming the URL, no password.
        CaptionerError: ``name`` is not a valid archive name.
    """
    link = BusLink(options)
    archiver = Archiver(link, root, name=name, poll_s=poll_s, report=report)
    try:
        await link.open()  # its failure is said here (an error) or by start() (waiting)
    except BusError as exc:
        if exc.kind in FATAL:
            raise
        # Unreachable for now: the archive waits for the bus (start() says why).
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await archiver.start()
        await stop.wait()
        report("stopping")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await archiver.close()
    for line in archiver.progress() + archiver.summary():
        report(line)
    return 0
