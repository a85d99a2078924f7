"""The parts of a venue as its system tests run them: ``captioner`` commands as
subprocesses whose stderr is read as it comes, viewers that come back when they are
dropped (as the views do), and the committed captions of a journal.

Every wait is on something seen (a line, a message), bounded by a generous timeout that
only a broken build reaches: nothing here depends on the machine's speed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from websockets.exceptions import WebSocketException

from captioner.record.journal import JOURNAL_NAME
from tests.conftest import REPO
from tests.edgetools import FeedViewer

#: Seconds any one wait may take: two Whisper rooms on two shared cores may lag real time.
WAIT_S = 300.0


class Child:
    """One ``captioner`` command in a subprocess, its stderr kept line by line.

    Args:
        name: What the test calls it (in failure messages).
        args: The command's arguments after ``captioner``.
    """

    def __init__(self, name: str, *args: str) -> None:
        self.name = name
        self.args = [sys.executable, "-m", "captioner", *args]
        self.lines: list[str] = []
        self.changed = asyncio.Event()
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None

    async def start(self) -> Child:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
            self.changed.set()
        self.changed.set()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def count(self, words: str) -> int:
        """How many of its lines so far hold ``words``."""
        return sum(words in line for line in self.lines)

    async def wait_for(self, pattern: str, *, times: int = 1,
                       timeout_s: float = WAIT_S) -> re.Match:
        """The ``times``-th line that matches the regular expression ``pattern``, once it
        came; fails if the command ends first."""
        regex = re.compile(pattern)

        def found() -> list[re.Match]:
            return [m for m in map(regex.search, self.lines) if m]

        await self.until(lambda: len(found()) >= times, repr(pattern), timeout_s=timeout_s)
        return found()[times - 1]

    async def until(self, predicate: Callable[[], bool], what: str, *,
                    timeout_s: float = WAIT_S) -> None:
        """Waits until ``predicate()`` holds, looking again at each line it writes;
        fails, saying ``what`` it waited for, if the command ends first."""
        assert self.proc is not None
        try:
            async with asyncio.timeout(timeout_s):
                while not predicate():
                    if self._reader is not None and self._reader.done():
                        raise AssertionError(f"{self.name} ended before {what}:\n"
                                             f"{self.text[-4000:]}")
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(f"{self.name} never said {what}:\n"
                                 f"{self.text[-4000:]}") from None

    async def stop(self, sig: int = signal.SIGTERM, timeout_s: float = WAIT_S) -> int:
        """Signals it and returns its exit status once it ended and its stderr is read."""
        assert self.proc is not None and self._reader is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        async with asyncio.timeout(timeout_s):
            code = await self.proc.wait()
            await self._reader
        return code

    async def kill(self) -> None:
        """Ends it at once if it still runs (the clean-up after a failure)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


class StayingViewer:
    """A viewer of a room on an edge that, like the views, connects again whenever it is
    dropped (or before the edge has found the room), resuming with ``?since=SEQ``.

    Attributes:
        feed: What it was sent over all its connections.
        drops: How often it was dropped and came back.
    """

    def __init__(self, room: str, port: int) -> None:
        self.feed = FeedViewer(room)
        self.port = port
        self.drops = 0
        self._task: asyncio.Task | None = None
        self._stopping = False

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.get_running_loop().create_task(self._stay())

    async def _connect(self) -> None:
        delay = 0.2
        async with asyncio.timeout(WAIT_S):
            while True:
                try:
                    await self.feed.connect(self.port)
                    return
                except (OSError, ConnectionError, WebSocketException):
                    await asyncio.sleep(delay)  # not found yet (404), or going away
                    delay = min(delay * 2, 2.0)

    async def _stay(self) -> None:
        while True:
            await self.feed.closed.wait()
            if self._stopping:
                return
            self.drops += 1
            await self._connect()

    async def wait_seq(self, seq: int, timeout_s: float = WAIT_S) -> None:
        feed = self.feed
        async with asyncio.timeout(timeout_s):
            while (feed.last_seq or 0) < seq:
                feed.changed.clear()
                await feed.changed.wait()

    async def close(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.feed.close()


def committed(messages: list[dict]) -> list[tuple[int, str, str, str]]:
    """The committed captions of a feed or a journal: ``(seq, lang, id, text)``."""
    return [(m["seq"], m["lang"], m["id"], m["text"]) for m in messages
            if m.get("type") == "caption" and m.get("final")]


def journal_lines(folder: Path) -> list[dict]:
    """Every line of the one session folder's journal under ``folder``."""
    (session,) = [p for p in folder.iterdir() if p.is_dir()]
    text = (session / JOURNAL_NAME).read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]
