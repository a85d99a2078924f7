"""Network-stream input: audio from a URL (HTTP(S), HLS, RTMP, RTSP, UDP, RTP...) via FFmpeg.

The venue's encoder often sends the mixer out as a stream instead of a cable:
:class:`NetworkSource` opens the URL with PyAV, decodes it as it arrives, resamples to
16 kHz, splits the channels into inputs with the same convention as
:class:`~captioner.inputs.sources.FileSource` (input id -> 0-based channel, -1 downmixes), and
survives the stream dropping: it reports the loss, reconnects with backoff and keeps
stream time in step with the wall clock across the gap (as
:class:`~captioner.inputs.capture.MicrophoneSource` does for a pulled cable).

Which URLs work is whatever the FFmpeg inside the PyAV wheel was built with: http, https,
HLS playlists, rtmp(s), rtsp, tcp, udp, rtp and file. It has no libsrt, so an ``srt://``
URL fails at once with a hint; relay such a stream to UDP first
(``ffmpeg -i srt://... -c copy -f mpegts udp://127.0.0.1:5000``).

Live streams and recordings. A stream whose length FFmpeg knows (a file served over
HTTP) is a *recording*: by default it is paced by its own clock (sample count), at
``speed`` times real time, like ``FileSource``, because it would otherwise arrive as
fast as the network carries it; its clean end finishes the source (``ended``), and
after a drop it is read again from the start and resumes where it broke off. Any other
stream is *live*: it is passed on as it arrives (pacing it would only add latency), its
end counts as a drop, and after a drop it resumes wherever the sender is now.

Failing fast: only the first connection may raise (refused, timed out, unknown
protocol, too few channels), so a wrong URL stops ``captioner run`` at once with one
line; :meth:`NetworkSource.connect` makes that happen before the session starts. A
``udp://`` or ``rtp://`` listener therefore needs the sender running first. Later
failures are reported and retried for ever.

Start-up: FFmpeg reads up to ``probe_s`` (1 s) of a stream, and at most 128 KB, to learn
its format before the first audio comes out; that much arrives at once, then the stream
flows as sent.

Threads: one reader thread per source opens, decodes, resamples and paces; it hands
blocks to the event loop through a bounded mailbox and wakes it with
``loop.call_soon_threadsafe``. Stream time, loss reporting and metering happen on the
loop. A live stream's audio that the loop does not take in time is dropped, oldest
first, and counted; a recording's reader waits instead.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from captioner.errors import AudioError
from captioner.events import SAMPLE_RATE, AudioChunk, Status
from captioner.inputs.continuity import BACKOFF_S, Backoff, Continuity
from captioner.inputs.levels import InputMeters

log = logging.getLogger(__name__)

BLOCK_S = 0.1
MAILBOX_BLOCKS = 50                     # about 5 s of audio at BLOCK_S
PROBE_BYTES = 128 * 1024               # at most this much is read to find the format
URL_HINT = "check the URL, and that the stream is being sent"


def redact(url: str) -> str:
    """The URL without a password, for logs and status events."""
    return re.sub(r"^([a-zA-Z][\w+.-]*://[^/@:]*):[^/@]*@", r"\1:***@", url)


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
class _Opened:
    info: dict
    connected_at: float             # monotonic, when this connection was asked for


@dataclass(frozen=True, slots=True)
class _Audio:
    offset: int                     # 16 kHz samples since this connection's first block
    arrays: dict[str, np.ndarray]
    captured_ns: int
    arrived: float                  # monotonic, when the block was handed over


@dataclass(frozen=True, slots=True)
class _Lost:
    error: str


@dataclass(frozen=True, slots=True)
class _Ended:
    pass


@dataclass(frozen=True, slots=True)
class _Failed:
    error: AudioError


class _Mailbox:
    """From the reader thread to the loop. Control messages are never dropped."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.dropped = 0
        self._items: deque = deque()
        self._items_changed = threading.Condition()

    def put(self, item: Any, drop_oldest: bool, halt: threading.Event) -> None:
        with self._items_changed:
            while isinstance(item, _Audio) and len(self._items) >= self.maxsize:
                if drop_oldest:
                    oldest = next((m for m in self._items if isinstance(m, _Audio)), None)
                    if oldest is not None:
                        self._items.remove(oldest)
                        self.dropped += 1
                    break
                if halt.is_set():
                    return
                self._items_changed.wait(0.1)
            self._items.append(item)

    def drain(self) -> list:
        with self._items_changed:
            items = list(self._items)
            self._items.clear()
            self._items_changed.notify_all()
        return items

    def wake_all(self) -> None:
        with self._items_changed:
            self._items_changed.notify_all()


@dataclass
class _Cursor:
    """What the reader keeps across reconnections."""

    position: int = 0       # 16 kHz samples of a recording delivered (where to resume)
    delivered: bool = False  # the current connection has delivered audio


class _Stopped(Exception):
    """Unwinds the reader thread when :meth:`NetworkSource.stop` was called."""


# -- the source ----------------------------------------------------------------------------


class NetworkSource:
    """Live audio from a network stream, one or more of its channels as inputs.

    Yields :class:`AudioChunk` (16 kHz mono float32, one per input per block) and
    :class:`Status` events:

    * ``listening`` once audio flows (``url``, ``format``, ``codec``, ``samplerate``,
      ``channels``, ``live``, ``realtime``, ``inputs``, ``channel_map``);
    * ``levels`` per input about four times a second, and ``warning`` /
      ``warning_cleared`` (clipping, silent channel), as for a microphone;
    * ``input_lost`` (``url``, ``error``) once when the stream fails, stalls for
      ``read_timeout_s`` or (live) ends, then ``input_restored`` (``url``, ``gap_s``)
      when audio flows again; stream time jumps by the gap, staying in step with the
      wall clock. Reconnection is tried for ever, waiting ``backoff_s`` in turn;
    * ``ended`` when a recording has been played to its end (the source then finishes);
    * ``stopped`` after :meth:`stop`.

    Only the first connection raises (bad URL, refused, unsupported protocol, too few
    channels): call :meth:`connect` to have that happen before anything else starts.

    Args:
        url: Anything FFmpeg opens: ``http(s)://``, ``rtmp://``, ``rtsp://``, ``udp://``...
        channels: Input id -> 0-based channel, e.g. ``{"floor": 0, "booth": 1}``;
            ``{"floor": -1}`` (the default) downmixes all channels.
        speed: Pace of a paced stream: 1.0 real time, N times faster, 0 unpaced.
        realtime: Pace by the stream's own clock. None (the default) paces recordings
            (FFmpeg knows their length) and passes live streams on as they arrive.
        block_s: Length of one chunk.
        open_timeout_s: How long connecting may take.
        probe_s: How much of the stream FFmpeg may read to find its format (at most);
            a live stream starts this much later.
        read_timeout_s: Silence from the network that counts as a drop.
        backoff_s: Waits between reconnection attempts; the last one repeats.
        mailbox_blocks: Blocks held between the reader thread and the loop.
        publish_every_s: Period of the ``levels`` status.
    """

    def __init__(self, url: str, channels: Mapping[str, int] | None = None, *,
                 speed: float = 1.0, realtime: bool | None = None, block_s: float = BLOCK_S,
                 open_timeout_s: float = 10.0, read_timeout_s: float = 5.0, probe_s: float = 1.0,
                 backoff_s: Sequence[float] = BACKOFF_S, mailbox_blocks: int = MAILBOX_BLOCKS,
                 publish_every_s: float = 0.25) -> None:
        self.url = url
        self.shown_url = redact(url)
        self.channels = dict(channels or {"floor": -1})
        self.inputs = tuple(self.channels)
        self.speed = speed
        self.realtime = realtime
        self.block = max(1, round(block_s * SAMPLE_RATE))
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.probe_s = probe_s
        self.backoff_s = tuple(backoff_s) or BACKOFF_S
        self.publish_every_s = publish_every_s
        self._mailbox = _Mailbox(mailbox_blocks)
        self._halt = threading.Event()
        self._wake = asyncio.Event()
        self._connected: Any = None   # a container opened by connect(), for the reader
        self._thread: threading.Thread | None = None

    @property
    def dropped(self) -> int:
        """Blocks of a live stream dropped because the loop fell behind."""
        return self._mailbox.dropped

    def stop(self) -> None:
        """Asks the source to end; :meth:`events` finishes soon (call on the loop)."""
        self._halt.set()
        self._mailbox.wake_all()
        self._wake.set()

    def connect(self) -> None:
        """Opens the stream now (blocking, up to ``open_timeout_s``).

        Raises:
            AudioError: the stream cannot be opened, has no audio, or has fewer
                channels than the inputs want.
        """
        if self._connected is None:
            self._connected = self._open()

    # -- reader thread ---------------------------------------------------------------------

    def _open(self):
        """Opens the URL and checks its audio (blocking)."""
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
            self._check_channels(container.streams.audio[0].codec_context.channels)
        except AudioError:
            container.close()
            raise
        return container

    def _check_channels(self, n: int) -> None:
        for name, index in self.channels.items():
            if n and index >= n:
                raise AudioError(f"input {name!r} wants channel {index + 1}, but "
                                 f"{self.shown_url} has {n}")

    def _post(self, loop: asyncio.AbstractEventLoop, item: Any, live: bool = True) -> None:
        self._mailbox.put(item, drop_oldest=live, halt=self._halt)
        try:
            loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:  # the loop is closed: we are shutting down
            self._halt.set()

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        """The reader thread: connect, pump, reconnect with backoff, until halted."""
        cursor = _Cursor()
        container, self._connected = self._connected, None
        connections = 0
        backoff = Backoff(self.backoff_s)
        connected_at = time.monotonic()
        try:
            while not self._halt.is_set():
                if container is None:
                    if connections and self._halt.wait(backoff.next_s()):
                        break
                    connected_at = time.monotonic()
                    try:
                        container = self._open()
                    except AudioError as exc:
                        if not connections:
                            self._post(loop, _Failed(exc))
                            return
                        self._post(loop, _Lost(exc.message))
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
                    self._post(loop, _Ended())
                    return
                if not self._halt.is_set():
                    self._post(loop, _Lost(why))
        except Exception as exc:  # a bug: end the source rather than hang it
            log.exception("network input %s failed", self.shown_url)
            self._post(loop, _Failed(AudioError(f"network input {self.shown_url} failed: "
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
                    if delay > 0 and self._halt.wait(delay):
                        raise _Stopped
                if self._halt.is_set():
                    raise _Stopped
                self._post(loop, _Audio(offset, arrays, time.time_ns(), time.monotonic()),
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
                if self._halt.is_set():
                    raise _Stopped
                if position is None:   # the first frame: now the format is surely known
                    self._check_channels(frame.layout.nb_channels)
                    info = {"url": self.shown_url, "format": container.format.name,
                            "codec": stream.codec_context.name, "samplerate": frame.sample_rate,
                            "channels": frame.layout.nb_channels, "live": live,
                            "realtime": pace}
                    self._post(loop, _Opened(info, connected_at))
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

    # -- event loop ------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[AudioChunk | Status]:
        """Chunks per input and status events until :meth:`stop` (or a recording's end).

        Raises:
            AudioError: the first connection failed (when :meth:`connect` was not called).
        """
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._read, args=(loop,), daemon=True,
                                        name="netsource")
        self._thread.start()
        meters = InputMeters(SAMPLE_RATE, self.publish_every_s)
        continuity = Continuity()
        who = {"url": self.shown_url}
        info: dict = {}
        segment_s = 0.0
        connected_at = 0.0
        try:
            while True:
                halted = self._halt.is_set()
                if not halted:
                    await self._wake.wait()
                self._wake.clear()
                for msg in self._mailbox.drain():
                    if isinstance(msg, _Audio):
                        n = len(next(iter(msg.arrays.values())))
                        if continuity.starting:   # the first block of a connection
                            # A live sender starts at the connection; a paced recording
                            # when its first block is due.
                            began = connected_at if info.get("live") \
                                else msg.arrived - n / SAMPLE_RATE
                            start = continuity.start(began, time.time_ns(), who, {
                                "source": "network", **info, "inputs": list(self.inputs),
                                "channel_map": dict(self.channels)})
                            if start.gap_s is not None:
                                log.info("network input %s back after %.1f s",
                                         self.shown_url, start.gap_s)
                            for status in start.statuses:
                                yield status
                            segment_s = start.start_s
                        start_s = segment_s + msg.offset / SAMPLE_RATE
                        for name, samples in msg.arrays.items():
                            yield AudioChunk(name, samples, start_s, msg.captured_ns)
                            for event in meters.add(name, samples, time.time_ns(),
                                                    dropped=self.dropped):
                                yield event
                        continuity.delivered(msg.arrived, start_s + n / SAMPLE_RATE)
                    elif isinstance(msg, _Opened):
                        info, connected_at = msg.info, msg.connected_at
                        continuity.opened()
                    elif isinstance(msg, _Lost):
                        lost = continuity.lose(msg.error, time.time_ns(), who)
                        if lost is None:
                            log.debug("network input %s still lost: %s", self.shown_url,
                                      msg.error)
                            continue
                        log.warning("network input %s lost: %s", self.shown_url, msg.error)
                        yield lost
                    elif isinstance(msg, _Ended):
                        yield Status("ended", time.time_ns(), detail={
                            "source": "network", "url": self.shown_url})
                        return
                    elif isinstance(msg, _Failed):
                        raise msg.error
                if halted:
                    await asyncio.to_thread(self._thread.join, 1.0)
                    yield Status("stopped", time.time_ns(), detail={
                        "source": "network", "url": self.shown_url})
                    return
        finally:
            self._halt.set()
            self._mailbox.wake_all()
