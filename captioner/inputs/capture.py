"""Live capture from a sound card: the microphone source.

The AV technician plugs the mixer into the laptop; :class:`MicrophoneSource` opens it
through PortAudio (``sounddevice``, by way of :mod:`captioner.inputs.devices`), splits
the channels into inputs ("floor" on channel 1, "booth" on channel 2...), resamples each
to 16 kHz with a stateful soxr resampler, meters them, and survives the cable being
pulled: it reports the loss, reopens the device by name with backoff, and keeps stream
time aligned with the wall clock across the gap (:mod:`captioner.inputs.continuity`).

Threads: the PortAudio callback only copies the buffer and hands it to the event loop
with ``loop.call_soon_threadsafe``; everything else runs on the loop, and the blocking
PortAudio calls (scan, open, close) run in the default executor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from captioner.errors import AudioError
from captioner.events import SAMPLE_RATE, AudioChunk, Status
from captioner.inputs.continuity import BACKOFF_S, Backoff, Continuity
from captioner.inputs.devices import (
    DEVICES_HINT,
    CaptureBackend,
    DeviceInfo,
    InputStreamLike,
    PortAudioBackend,
    refind_device,
    resolve_device,
)
from captioner.inputs.levels import InputMeters
from captioner.inputs.sources import BLOCK_S

log = logging.getLogger(__name__)

QUEUE_BLOCKS = 50                       # about 5 s of audio at BLOCK_S

T = TypeVar("T")


# -- the source ------------------------------------------------------------------------------


class DropOldestQueue(Generic[T]):
    """A bounded FIFO that makes room by dropping its oldest item, and counts the drops.

    Live audio must stay live: when the consumer falls behind, the stalest audio goes.
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.dropped = 0
        self._items: deque[T] = deque()

    def put(self, item: T) -> bool:
        """Appends an item; returns True when the oldest had to be dropped for it."""
        dropped = len(self._items) >= self.maxsize
        if dropped:
            self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        return dropped

    def drain(self) -> list[T]:
        """Removes and returns every item, oldest first."""
        items = list(self._items)
        self._items.clear()
        return items

    def clear(self) -> None:
        """Forgets the items (without counting them as dropped)."""
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


@dataclass(slots=True)
class _Block:
    frame: int            # frames the stream delivered before this block
    samples: np.ndarray   # (frames, channels) float32
    captured_ns: int      # wall clock when the callback got it
    arrived: float        # time.monotonic() when it reached the loop


class _Converter:
    """Turns device blocks into per-input 16 kHz chunks and level statuses (loop thread).

    Stream time is counted in device frames since the current stream opened, offset
    by where that stream starts (0 at first, later the stream time at which a
    re-opened device came back). A jump in frame numbers means the queue dropped
    blocks: the resamplers are flushed and a new segment starts at the later time.
    """

    def __init__(self, channels: Mapping[str, int], publish_every_s: float) -> None:
        self.channels = dict(channels)
        self.publish_every_s = publish_every_s
        self.rate = 0.0
        self.end_s = 0.0             # stream time where the delivered audio ends
        self._stream_start_s = 0.0   # stream time of the current stream's first frame
        self._segment_s = 0.0        # stream time where the resamplers started
        self._expected_frame = 0
        self._resamplers: dict[str, Any] = {}
        self._emitted: dict[str, int] = {}   # 16 kHz samples out since the segment began
        self._meters: InputMeters | None = None   # for the current rate

    def start_stream(self, start_s: float, rate: float) -> None:
        """Begins a freshly opened stream whose first frame is at stream time ``start_s``."""
        if rate != self.rate:
            self._meters = InputMeters(rate, self.publish_every_s)
        self.rate = rate
        self._stream_start_s = self._segment_s = start_s
        self._expected_frame = 0

    def feed(self, block: _Block, overflows: int, dropped: int) -> list[AudioChunk | Status]:
        """Splits, resamples and meters one block; returns what to yield, in order."""
        import soxr

        out: list[AudioChunk | Status] = []
        if block.frame != self._expected_frame:
            out.extend(self.flush())
            self._segment_s = self._stream_start_s + block.frame / self.rate
        self._expected_frame = block.frame + len(block.samples)
        self.end_s = self._stream_start_s + self._expected_frame / self.rate
        for name, index in self.channels.items():
            if index < 0:
                mono = block.samples.mean(axis=1, dtype=np.float32)
            else:
                mono = np.ascontiguousarray(block.samples[:, index])
            resampler = self._resamplers.get(name)
            if resampler is None:
                resampler = self._resamplers[name] = soxr.ResampleStream(
                    self.rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
                self._emitted[name] = 0
            samples = resampler.resample_chunk(mono)
            if samples.size:
                out.append(AudioChunk(name, samples,
                                      self._segment_s + self._emitted[name] / SAMPLE_RATE,
                                      block.captured_ns))
                self._emitted[name] += samples.size
            out.extend(self._meters.add(name, mono, time.time_ns(), overflows, dropped))
        return out

    def flush(self) -> list[AudioChunk]:
        """Drains the resamplers (end of a segment) and forgets them."""
        out = []
        for name, resampler in self._resamplers.items():
            tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            if tail.size:
                out.append(AudioChunk(name, tail,
                                      self._segment_s + self._emitted[name] / SAMPLE_RATE,
                                      time.time_ns()))
        self._resamplers.clear()
        self._emitted.clear()
        return out


class MicrophoneSource:
    """Live audio from a sound card, one or more of its channels as inputs.

    Yields :class:`AudioChunk` (16 kHz mono float32, one per input per block) and
    :class:`Status` events:

    * ``listening`` once audio flows (device, host API, rate, channels, inputs);
    * ``levels`` per input about four times a second (``rms_dbfs``, ``peak_dbfs``,
      ``clipping``, ``silent``, ``overflows``, ``dropped``);
    * ``warning`` / ``warning_cleared`` per input with ``kind`` ``clipping`` or
      ``silent_channel`` (rate-limited, see :mod:`captioner.inputs.levels`);
    * ``input_lost`` (``device``, ``error``) once when the stream fails or the driver
      goes quiet for ``watchdog_s``, then ``input_restored`` (``device``, ``gap_s``)
      when audio flows again; stream time jumps by the gap, so it stays in step with
      the wall clock;
    * ``stopped`` at the end.

    Device loss never raises out of :meth:`events`; only :meth:`stop` ends it. Only
    the first opening raises (unknown device, too few channels, unusable settings), so
    a wrong ``--device`` fails at once instead of retrying for ever.

    Re-scanning re-initialises PortAudio for the whole process: use one
    MicrophoneSource per process (one interface carries all the inputs as channels).

    Args:
        device: ``"mic"``/``"default"``, a device number, or part of its name.
        channels: Input id -> 0-based channel of the interface, e.g.
            ``{"floor": 0, "booth": 1}``; -1 downmixes the first two channels.
        block_s: Length of one PortAudio block.
        queue_blocks: Blocks held between the callback and the consumer; beyond that
            the oldest is dropped and counted.
        samplerate: Rate to open the device at; its default rate when None.
        watchdog_s: Silence from the driver (no callback) that counts as a loss.
        start_timeout_s: How long an opened stream may take to deliver its first block.
        backoff_s: Waits between reopening attempts; the last one repeats.
        publish_every_s: Period of the ``levels`` status.
        backend: Device access; PortAudio when None.
    """

    def __init__(self, device: str = "default", channels: Mapping[str, int] | None = None, *,
                 block_s: float = BLOCK_S, queue_blocks: int = QUEUE_BLOCKS,
                 samplerate: float | None = None, watchdog_s: float = 1.5,
                 start_timeout_s: float = 5.0, backoff_s: Sequence[float] = BACKOFF_S,
                 publish_every_s: float = 0.25, backend: CaptureBackend | None = None) -> None:
        self.device = str(device)
        self.channels = dict(channels or {"floor": -1})
        self.inputs = tuple(self.channels)
        self.block_s = block_s
        self.samplerate = samplerate
        self.watchdog_s = watchdog_s
        self.start_timeout_s = start_timeout_s
        self.backoff_s = tuple(backoff_s) or BACKOFF_S
        self.publish_every_s = publish_every_s
        self.backend: CaptureBackend = backend or PortAudioBackend()
        self.overflows = 0
        self._queue: DropOldestQueue[_Block] = DropOldestQueue(queue_blocks)
        self._stopped = asyncio.Event()
        self._wake = asyncio.Event()
        self._generation = 0        # callbacks of older streams are ignored
        self._frames_in = 0         # frames the current stream has delivered
        self._stream_ended = False  # PortAudio finished the current stream on its own
        self._last_arrival: float | None = None  # monotonic, latest block of this stream
        self._stream: InputStreamLike | None = None

    @property
    def dropped(self) -> int:
        """Blocks dropped because the consumer fell more than ``queue_blocks`` behind."""
        return self._queue.dropped

    def stop(self) -> None:
        """Asks the source to end; :meth:`events` closes the device and finishes soon."""
        self._stopped.set()
        self._wake.set()

    def _callbacks(self, loop: asyncio.AbstractEventLoop, generation: int):
        on_block, on_finished = self._on_block, self._on_finished

        # Runs on the PortAudio thread: copy, hand over, nothing else.
        def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
            try:
                loop.call_soon_threadsafe(on_block, generation, indata.copy(),
                                          bool(status.input_overflow), time.time_ns())
            except RuntimeError:  # the loop is closed: we are shutting down
                pass

        def finished_callback() -> None:
            try:
                loop.call_soon_threadsafe(on_finished, generation)
            except RuntimeError:
                pass

        return callback, finished_callback

    def _on_block(self, generation: int, samples: np.ndarray, overflow: bool,
                  captured_ns: int) -> None:
        if generation != self._generation:
            return
        if overflow:
            self.overflows += 1
        self._last_arrival = time.monotonic()
        self._queue.put(_Block(self._frames_in, samples, captured_ns, self._last_arrival))
        self._frames_in += len(samples)
        self._wake.set()

    def _on_finished(self, generation: int) -> None:
        if generation == self._generation:
            self._stream_ended = True
            self._wake.set()

    def _channels_needed(self, device: DeviceInfo) -> int:
        for name, index in self.channels.items():
            if index >= device.max_input_channels:
                raise AudioError(f"input {name!r} wants channel {index + 1}, but "
                                 f"{device.name!r} has {device.max_input_channels}",
                                 hint=DEVICES_HINT)
        wanted = max(self.channels.values())
        return wanted + 1 if wanted >= 0 else max(1, min(2, device.max_input_channels))

    def _open(self, loop: asyncio.AbstractEventLoop, previous: DeviceInfo | None,
              generation: int) -> tuple[InputStreamLike, DeviceInfo, float, int]:
        """Finds, opens and starts the device (blocking: runs in the executor)."""
        if previous is None:
            device = resolve_device(self.device, self.backend.devices())
        else:
            device = refind_device(self.device, previous, self.backend.devices(rescan=True))
        n_channels = self._channels_needed(device)
        rate = float(self.samplerate or device.default_samplerate)
        callback, finished = self._callbacks(loop, generation)
        stream = self.backend.open(device, rate, n_channels, max(1, round(rate * self.block_s)),
                                   callback, finished)
        try:
            stream.start()
        except Exception as exc:  # sounddevice raises its own PortAudioError here
            stream.close(ignore_errors=True)
            raise AudioError(f"cannot start audio input {device.name!r}: {exc}") from None
        return stream, device, rate, n_channels

    def _close(self) -> None:
        """Stops and closes the current stream (blocking: runs in the executor)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.abort(ignore_errors=True)
            stream.close(ignore_errors=True)

    async def _reopen(self, loop: asyncio.AbstractEventLoop, previous: DeviceInfo
                      ) -> tuple[DeviceInfo, float, int] | None:
        """One attempt at getting the device back; None when it is not there yet."""
        self._generation += 1
        self._frames_in, self._stream_ended, self._last_arrival = 0, False, None
        self._queue.clear()
        self._wake.clear()
        try:
            stream, device, rate, n_channels = await loop.run_in_executor(
                None, self._open, loop, previous, self._generation)
        except AudioError as exc:
            log.debug("reopening %s failed: %s", previous.name, exc)
            return None
        self._stream = stream
        log.info("reopened audio input %s; waiting for audio", device.name)
        return device, rate, n_channels

    async def events(self) -> AsyncIterator[AudioChunk | Status]:
        """Chunks per input and status events until :meth:`stop`.

        Raises:
            AudioError: the device cannot be found or opened the first time.
        """
        loop = asyncio.get_running_loop()
        self._generation += 1
        self._stream, device, rate, n_channels = await loop.run_in_executor(
            None, self._open, loop, None, self._generation)
        convert = _Converter(self.channels, self.publish_every_s)
        continuity, backoff = Continuity(), Backoff(self.backoff_s)
        continuity.opened()
        opened_at = time.monotonic()
        try:
            while not self._stopped.is_set():
                if self._stream is None:
                    try:
                        await asyncio.wait_for(self._stopped.wait(), backoff.next_s())
                        break
                    except TimeoutError:
                        pass
                    reopened = await self._reopen(loop, device)
                    if reopened is not None:
                        device, rate, n_channels = reopened
                        opened_at = time.monotonic()
                        continuity.opened()
                    continue

                # The watchdog goes by the callback's arrivals, not by what was processed,
                # so a consumer that is slow for a while is not mistaken for a dead device.
                arrival = self._last_arrival
                since = opened_at if arrival is None else arrival
                limit = self.start_timeout_s if arrival is None else self.watchdog_s
                remaining = since + limit - time.monotonic()
                if remaining > 0:
                    try:
                        await asyncio.wait_for(self._wake.wait(), remaining)
                    except TimeoutError:
                        pass
                self._wake.clear()
                if self._stopped.is_set():
                    break

                for block in self._queue.drain():
                    if continuity.starting:  # the first block of a freshly opened stream
                        start = continuity.start(
                            block.arrived - len(block.samples) / rate, time.time_ns(),
                            {"device": device.name},
                            {"source": "microphone", "device": device.name,
                             "hostapi": device.hostapi, "samplerate": rate,
                             "channels": n_channels, "inputs": list(self.inputs),
                             "channel_map": dict(self.channels)})
                        if start.gap_s is not None:
                            backoff.reset()
                            log.info("audio input %s back after %.1f s", device.name,
                                     start.gap_s)
                        for status in start.statuses:
                            yield status
                        convert.start_stream(start.start_s, rate)
                    for event in convert.feed(block, self.overflows, self.dropped):
                        yield event
                    continuity.delivered(block.arrived, convert.end_s)

                now, arrival = time.monotonic(), self._last_arrival
                if self._stream_ended:
                    why = "the audio stream stopped (device error or unplugged)"
                elif arrival is not None and now - arrival > self.watchdog_s:
                    why = f"no audio from the device for {now - arrival:.1f} s"
                elif arrival is None and now - opened_at > self.start_timeout_s:
                    why = f"no audio within {self.start_timeout_s:g} s of opening the device"
                else:
                    continue
                self._generation += 1
                await loop.run_in_executor(None, self._close)
                for chunk in convert.flush():
                    yield chunk
                lost = continuity.lose(why, time.time_ns(), {"device": device.name})
                if lost is None:
                    log.debug("reopened %s, but %s", device.name, why)
                    continue
                backoff.reset()
                log.warning("audio input %s lost: %s", device.name, why)
                yield lost

            self._generation += 1
            await loop.run_in_executor(None, self._close)
            for chunk in convert.flush():
                yield chunk
            yield Status("stopped", time.time_ns(), detail={"source": "microphone",
                                                            "device": device.name})
        finally:
            if self._stream is not None:  # the consumer closed us early
                self._generation += 1
                self._close()
