"""The network source's reader thread: connect, decode, resample, split, pace, reconnect.

:class:`StreamReader` runs on a thread of its own, because PyAV blocks: it opens the
URL, decodes the audio as it arrives, resamples it to 16 kHz, cuts it into blocks per
input (:class:`BlockSplitter`) and, for a paced stream, holds each block until it is
due. It hands the blocks and what happens to the connection (:class:`Opened`,
:class:`Lost`, :class:`Ended`, :class:`Failed`) to the event loop through a bounded
:class:`Mailbox`, waking the loop with ``loop.call_soon_threadsafe``; a live stream's
audio that the loop does not take in time is dropped there, oldest first, and counted,
while a recording's reader waits instead. Stream time, loss reporting and metering are
the loop's business (:class:`~captioner.inputs.netsource.NetworkSource`).

After a drop the reader reconnects for ever, waiting ``backoff_s`` in turn; only the
first connection's failure is final. A recording resumes where it broke off (by
decoding up to there, see :func:`skip_until`), a live stream wherever the sender is now.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from captioner.errors import AudioError
from captioner.events import SAMPLE_RATE
from captioner.inputs.continuity import BACKOFF_S, Backoff

log = logging.getLogger(__name__)

MAILBOX_BLOCKS = 50                     # about 5 s of audio at 0.1 s blocks
PROBE_BYTES = 128 * 1024               # at most this much is read to find the format
URL_HINT = "check the URL, and that the stream is being sent"


def describe_error(exc: BaseException, open_timeout_s: float, read_timeout_s: float,
                   opening: bool) -> str:
    """A short, URL-free reason for a failed open or read."""
    import av

    if isinstance(exc, AudioError):
        return exc.message
    # PyAV's timeout interrupts FFmpeg (ExitError), or FFmpeg's own rw_timeout fires.
    if isinstance(exc, av.error.ExitError | TimeoutError) or \
            getattr(exc, "errno", None) == errno.ETIMEDOUT:
        return (f"no answer within {open_timeout_s:g} s" if opening
                else f"no data for {read_timeout_s:g} s")
    if isinstance(exc, av.error.ProtocolNotFoundError):
        return "this FFmpeg build cannot read such URLs (protocol not found)"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    text = text.strip().rstrip(".")
    return text if opening else f"the stream broke off ({text})"



# -- pure parts ----------------------------------------------------------------------------


class BlockSplitter:
    """Cuts 16 kHz multi-channel audio into fixed-size blocks, one array per input.

    Args:
        channels: Input id -> 0-based channel; -1 averages all channels.
        block: Samples per block.
    """

    def __init__(self, channels: Mapping[str, int], block: int) -> None:
        self.channels = dict(channels)
        self.block = block
        self.emitted = 0          # samples handed out so far (the next block's offset)
        self._pending: list[np.ndarray] = []
        self._pending_n = 0

    def feed(self, planes: np.ndarray) -> list[tuple[int, dict[str, np.ndarray]]]:
        """Takes ``(channels, n)`` samples; returns the blocks now complete as (offset, arrays)."""
        if planes.shape[1]:
            self._pending.append(planes)
            self._pending_n += planes.shape[1]
        out = []
        if self._pending_n < self.block:
            return out
        joined = np.concatenate(self._pending, axis=1) if len(self._pending) > 1 \
            else self._pending[0]
        whole = joined.shape[1] // self.block * self.block
        for start in range(0, whole, self.block):
            out.append(self._cut(joined[:, start:start + self.block]))
        rest = joined[:, whole:]
        self._pending = [rest] if rest.shape[1] else []
        self._pending_n = rest.shape[1]
        return out

    def flush(self) -> list[tuple[int, dict[str, np.ndarray]]]:
        """The last, short block (if any samples are held)."""
        if not self._pending_n:
            return []
        joined = np.concatenate(self._pending, axis=1)
        self._pending, self._pending_n = [], 0
        return [self._cut(joined)]

    def _cut(self, planes: np.ndarray) -> tuple[int, dict[str, np.ndarray]]:
        arrays = {}
        for name, index in self.channels.items():
            if index >= 0:
                mono = planes[index]
            elif planes.shape[0] == 1:
                mono = planes[0]
            else:
                mono = planes.mean(axis=0)
            arrays[name] = np.ascontiguousarray(mono, dtype=np.float32)
        offset = self.emitted
        self.emitted += planes.shape[1]
        return offset, arrays


def skip_until(planes: np.ndarray, position: int, resume_at: int) -> tuple[np.ndarray, int]:
    """Drops the samples before ``resume_at`` (a recording replayed after a reconnect).

    Args:
        planes: ``(channels, n)`` samples starting at ``position`` of the recording.
        position: Where they start, in 16 kHz samples.
        resume_at: Where delivery left off.

    Returns:
        What remains to deliver, and the position after ``planes``.
    """
    end = position + planes.shape[1]
    if position >= resume_at:
        return planes, end
    return planes[:, max(0, resume_at - position):], end



# -- the reader thread's messages ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Opened:
    """A connection is decoding; ``info`` is for the ``listening`` status."""

    info: dict
    connected_at: float             # monotonic, when this connection was asked for


@dataclass(frozen=True, slots=True)
class Audio:
    """One block per input, in the order they were decoded."""

    offset: int                     # 16 kHz samples since this connection's first block
    arrays: dict[str, np.ndarray]
    captured_ns: int
    arrived: float                  # monotonic, when the block was handed over


@dataclass(frozen=True, slots=True)
class Lost:
    """A connection, or an attempt at one, failed; ``error`` says why, without the URL."""

    error: str


@dataclass(frozen=True, slots=True)
class Ended:
    """A recording was played to its end; the reader has finished."""


@dataclass(frozen=True, slots=True)
class Failed:
    """The first connection failed (or the reader broke); the reader has finished."""

    error: AudioError


class Mailbox:
    """From the reader thread to the loop. Control messages are never dropped.

    Args:
        maxsize: Audio blocks it holds; then a live stream's oldest block is dropped
            (and counted in ``dropped``) and a recording's reader waits.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.dropped = 0
        self._items: deque = deque()
        self._items_changed = threading.Condition()

    def put(self, item: Any, drop_oldest: bool, halt: threading.Event) -> None:
        """Adds a message (reader thread); a full box waits, or drops, until ``halt``."""
        with self._items_changed:
            while isinstance(item, Audio) and len(self._items) >= self.maxsize:
                if drop_oldest:
                    oldest = next((m for m in self._items if isinstance(m, Audio)), None)
                    if oldest is not None:
                        self._items.remove(oldest)
                        self.dropped += 1
                    break
                if halt.is_set():
                    return
                self._items_changed.wait(0.1)
            self._items.append(item)

    def drain(self) -> list:
        """Removes and returns every message, oldest first (loop thread)."""
        with self._items_changed:
            items = list(self._items)
            self._items.clear()
            self._items_changed.notify_all()
        return items

    def wake_all(self) -> None:
        """Wakes a reader waiting for room (it then checks ``halt``)."""
        with self._items_changed:
            self._items_changed.notify_all()


@dataclass
class _Cursor:
    """What the reader keeps across reconnections."""

    position: int = 0       # 16 kHz samples of a recording delivered (where to resume)
    delivered: bool = False  # the current connection has delivered audio


class _Stopped(Exception):
    """Unwinds the reader thread when :meth:`StreamReader.stop` was called."""


# -- the reader ------------------------------------------------------------------------------


class StreamReader:
    """Reads one network stream into a :class:`Mailbox`, reconnecting after drops.

    :meth:`run` is the thread's body; :meth:`open` (through :meth:`connect`) may be
    called before it, from any thread, to make the first connection fail fast.

    Args:
        url: What FFmpeg opens.
        shown_url: The URL as errors may show it (without a password).
        channels: Input id -> 0-based channel; -1 downmixes all channels.
        wake: Wakes the loop's consumer (called on the loop, after each message).
        speed: Pace of a paced stream: 1.0 real time, N times faster, 0 unpaced.
        realtime: Pace by the stream's own clock; None paces recordings only.
        block: Samples (at 16 kHz) per block.
        open_timeout_s: How long connecting may take.
        read_timeout_s: Silence from the network that counts as a drop.
        probe_s: How much of the stream FFmpeg may read to find its format.
        backoff_s: Waits between reconnection attempts; the last one repeats.
        mailbox_blocks: Blocks held between the thread and the loop.
    """

    def __init__(self, url: str, shown_url: str, channels: Mapping[str, int],
                 wake: Callable[[], None], *, speed: float = 1.0, realtime: bool | None = None,
                 block: int = 1600, open_timeout_s: float = 10.0, read_timeout_s: float = 5.0,
                 probe_s: float = 1.0, backoff_s: Sequence[float] = BACKOFF_S,
                 mailbox_blocks: int = MAILBOX_BLOCKS) -> None:
        self.url = url
        self.shown_url = shown_url
        self.channels = dict(channels)
        self.speed = speed
        self.realtime = realtime
        self.block = block
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.probe_s = probe_s
        self.backoff_s = tuple(backoff_s) or BACKOFF_S
        self.mailbox = Mailbox(mailbox_blocks)
        self.halt = threading.Event()
        self._wake = wake
        self._connected: Any = None   # a container opened by connect(), for run()

    def stop(self) -> None:
        """Asks the thread to end, waking it wherever it waits."""
        self.halt.set()
        self.mailbox.wake_all()

    def connect(self) -> None:
        """Opens the stream now, for :meth:`run` to take over (blocking).

        Raises:
            AudioError: as :meth:`open`.
        """
        if self._connected is None:
            self._connected = self.open()

    def open(self):
        """Opens the URL and checks its audio (blocking).

        Raises:
            AudioError: the stream cannot be opened, has no audio, or has fewer
                channels than the inputs want.
        """
        import av

        try:
            container = av.open(self.url, options={
                "rw_timeout": str(round(self.read_timeout_s * 1e6)),
                # FFmpeg would read 5 s of a live stream before saying what it holds.
                "analyzeduration": str(round(self.probe_s * 1e6)),
                "probesize": str(PROBE_BYTES)},
                timeout=(self.open_timeout_s, self.read_timeout_s))
        except Exception as exc:  # PyAV raises FFmpegError/OSError, also for "refused"
            why = describe_error(exc, self.open_timeout_s, self.read_timeout_s, opening=True)
            hint = URL_HINT
            if isinstance(exc, av.error.ProtocolNotFoundError) and self.url.startswith("srt:"):
                hint = ("relay it to UDP: ffmpeg -i srt://... -c copy -f mpegts "
                        "udp://127.0.0.1:5000, then use udp://127.0.0.1:5000")
            raise AudioError(f"cannot open network stream {self.shown_url}: {why}",
                             hint=hint) from None
        try:
            if not container.streams.audio:
                raise AudioError(f"network stream {self.shown_url} has no audio")
            # Some streams (MPEG-TS with video...) only say so once decoding starts.
            self.check_channels(container.streams.audio[0].codec_context.channels)
        except AudioError:
            container.close()
            raise
        return container

    def check_channels(self, n: int) -> None:
        for name, index in self.channels.items():
            if n and index >= n:
                raise AudioError(f"input {name!r} wants channel {index + 1}, but "
                                 f"{self.shown_url} has {n}")

    def _post(self, loop: asyncio.AbstractEventLoop, item: Any, live: bool = True) -> None:
        self.mailbox.put(item, drop_oldest=live, halt=self.halt)
        try:
            loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the loop is closed: we are shutting down
            self.halt.set()

    def run(self, loop: asyncio.AbstractEventLoop) -> None:
        """The reader thread: connect, pump, reconnect with backoff, until halted."""
        cursor = _Cursor()
        container, self._connected = self._connected, None
        connections = 0
        backoff = Backoff(self.backoff_s)
        connected_at = time.monotonic()
        try:
            while not self.halt.is_set():
                if container is None:
                    if connections and self.halt.wait(backoff.next_s()):
                        break
                    connected_at = time.monotonic()
                    try:
                        container = self.open()
                    except AudioError as exc:
                        if not connections:
                            self._post(loop, Failed(exc))
                            return
                        self._post(loop, Lost(exc.message))
                        continue
                connections += 1
                cursor.delivered = False
                try:
                    ended = self._pump(loop, container, cursor, connected_at)
                except _Stopped:
                    break
                except Exception as exc:  # any failure of a connection is a drop
                    log.debug("%s: %r", self.shown_url, exc)
                    why = describe_error(exc, self.open_timeout_s, self.read_timeout_s,
                                         opening=False)
                    ended = False
                else:
                    why = "the stream ended"
                finally:
                    container.close()
                    container = None
                if cursor.delivered:
                    backoff.reset()
                if ended:
                    self._post(loop, Ended())
                    return
                if not self.halt.is_set():
                    self._post(loop, Lost(why))
        except Exception as exc:  # a bug: end the source rather than hang it
            log.exception("network input %s failed", self.shown_url)
            self._post(loop, Failed(AudioError(f"network input {self.shown_url} failed: "
                                                f"{exc!r}")))
        finally:
            if container is not None:
                container.close()

    def _pump(self, loop: asyncio.AbstractEventLoop, container, cursor: _Cursor,
              connected_at: float) -> bool:
        """Decodes one connection until it ends; True when a recording played to its end.

        Raises:
            _Stopped: :meth:`stop` was called.
            Exception: whatever broke the connection.
        """
        import av

        stream = container.streams.audio[0]
        live = not (container.duration or 0) > 0
        pace = (not live if self.realtime is None else self.realtime) and self.speed > 0
        origin_s = (container.start_time or 0) / 1e6
        # A recording resumes by decoding up to where it broke off, not by seeking:
        # a server that ignores byte ranges would answer a seek with the whole file.
        resume_at = 0 if live else cursor.position
        mono = all(index < 0 for index in self.channels.values())
        resampler = av.AudioResampler(format="fltp", layout="mono" if mono else None,
                                      rate=SAMPLE_RATE)
        splitter = BlockSplitter(self.channels, self.block)
        position: int | None = None
        paced_from: float | None = None

        def deliver(blocks: list[tuple[int, dict[str, np.ndarray]]]) -> None:
            nonlocal paced_from
            for offset, arrays in blocks:
                n = len(next(iter(arrays.values())))
                if pace:
                    now = time.monotonic()
                    if paced_from is None:
                        paced_from = now
                    delay = paced_from + (offset + n) / SAMPLE_RATE / self.speed - now
                    if delay > 0 and self.halt.wait(delay):
                        raise _Stopped
                if self.halt.is_set():
                    raise _Stopped
                self._post(loop, Audio(offset, arrays, time.time_ns(), time.monotonic()),
                           live=live)
                cursor.delivered = True

        def take(planes: np.ndarray) -> None:
            nonlocal position
            planes, position = skip_until(planes, position, resume_at)
            deliver(splitter.feed(planes))
            if not live:
                cursor.position = max(cursor.position, position)

        try:
            for frame in container.decode(stream):
                if self.halt.is_set():
                    raise _Stopped
                if position is None:   # the first frame: now the format is surely known
                    self.check_channels(frame.layout.nb_channels)
                    info = {"url": self.shown_url, "format": container.format.name,
                            "codec": stream.codec_context.name, "samplerate": frame.sample_rate,
                            "channels": frame.layout.nb_channels, "live": live,
                            "realtime": pace}
                    self._post(loop, Opened(info, connected_at))
                    start_s = frame.time if frame.time is not None and not live else origin_s
                    position = max(0, round((start_s - origin_s) * SAMPLE_RATE))
                for out in resampler.resample(frame):
                    take(out.to_ndarray())
            if position is not None:
                for out in resampler.resample(None):
                    take(out.to_ndarray())
        except _Stopped:
            raise
        except Exception:
            deliver(splitter.flush())   # what arrived before the break is still good
            raise
        deliver(splitter.flush())
        return not live
