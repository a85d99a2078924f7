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

Threads: one reader thread per source opens, decodes, resamples and paces
(:class:`~captioner.inputs.netreader.StreamReader`); it hands blocks to the event loop
through a bounded mailbox and wakes it with ``loop.call_soon_threadsafe``. Stream time,
loss reporting (:mod:`captioner.inputs.continuity`) and metering happen on the loop. A
live stream's audio that the loop does not take in time is dropped, oldest first, and
counted; a recording's reader waits instead.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence

from captioner.events import SAMPLE_RATE, AudioChunk, Status
from captioner.inputs.continuity import BACKOFF_S, Continuity
from captioner.inputs.levels import InputMeters
from captioner.inputs.netreader import (
    MAILBOX_BLOCKS,
    Audio,
    Ended,
    Failed,
    Lost,
    Opened,
    StreamReader,
)
from captioner.inputs.sources import BLOCK_S

log = logging.getLogger(__name__)


def redact(url: str) -> str:
    """The URL without a password, for logs and status events."""
    return re.sub(r"^([a-zA-Z][\w+.-]*://[^/@:]*):[^/@]*@", r"\1:***@", url)


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
        self.publish_every_s = publish_every_s
        self._wake = asyncio.Event()
        self._reader = StreamReader(
            url, self.shown_url, self.channels, self._wake.set, speed=speed,
            realtime=realtime, block=max(1, round(block_s * SAMPLE_RATE)),
            open_timeout_s=open_timeout_s, read_timeout_s=read_timeout_s, probe_s=probe_s,
            backoff_s=backoff_s, mailbox_blocks=mailbox_blocks)
        self._thread: threading.Thread | None = None

    @property
    def speed(self) -> float:
        """Pace of a paced stream (1.0 real time, 0 unpaced)."""
        return self._reader.speed

    @property
    def dropped(self) -> int:
        """Blocks of a live stream dropped because the loop fell behind."""
        return self._reader.mailbox.dropped

    def stop(self) -> None:
        """Asks the source to end; :meth:`events` finishes soon (call on the loop)."""
        self._reader.stop()
        self._wake.set()

    def connect(self) -> None:
        """Opens the stream now (blocking, up to ``open_timeout_s``).

        Raises:
            AudioError: the stream cannot be opened, has no audio, or has fewer
                channels than the inputs want.
        """
        self._reader.connect()

    async def events(self) -> AsyncIterator[AudioChunk | Status]:
        """Chunks per input and status events until :meth:`stop` (or a recording's end).

        Raises:
            AudioError: the first connection failed (when :meth:`connect` was not called).
        """
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._reader.run, args=(loop,), daemon=True,
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
                halted = self._reader.halt.is_set()
                if not halted:
                    await self._wake.wait()
                self._wake.clear()
                for msg in self._reader.mailbox.drain():
                    if isinstance(msg, Audio):
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
                    elif isinstance(msg, Opened):
                        info, connected_at = msg.info, msg.connected_at
                        continuity.opened()
                    elif isinstance(msg, Lost):
                        lost = continuity.lose(msg.error, time.time_ns(), who)
                        if lost is None:
                            log.debug("network input %s still lost: %s", self.shown_url,
                                      msg.error)
                            continue
                        log.warning("network input %s lost: %s", self.shown_url, msg.error)
                        yield lost
                    elif isinstance(msg, Ended):
                        yield Status("ended", time.time_ns(), detail={
                            "source": "network", "url": self.shown_url})
                        return
                    elif isinstance(msg, Failed):
                        raise msg.error
                if halted:
                    await asyncio.to_thread(self._thread.join, 1.0)
                    yield Status("stopped", time.time_ns(), detail={
                        "source": "network", "url": self.shown_url})
                    return
        finally:
            self._reader.stop()
