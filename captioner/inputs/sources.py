"""The audio-source protocol, and the file source that plays a recording as if live.

A source is an async iterator of :class:`AudioChunk` (16 kHz mono float32, one chunk
per input it feeds) and :class:`Status` events (listening, levels, input lost...).
Decoding and any blocking I/O happen off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Protocol

import numpy as np

from captioner.errors import AudioError
from captioner.events import SAMPLE_RATE, AudioChunk, Status
from captioner.inputs.audio import iter_file_blocks

log = logging.getLogger(__name__)

BLOCK_S = 0.1
"""Default length, in seconds, of the blocks every source hands out (file, mic, network)."""


class AudioSource(Protocol):
    """Anything that yields audio chunks and status events until it ends or is stopped."""

    inputs: tuple[str, ...]

    def events(self) -> AsyncIterator[AudioChunk | Status]:
        """Chunks for each of ``inputs`` and status events, in time order."""
        ...

    def stop(self) -> None:
        """Asks the source to end; ``events`` then finishes soon."""
        ...


def _decode_channels(path: Path, channels: Mapping[str, int]) -> dict[str, np.ndarray]:
    """Decodes a file into one 16 kHz mono array per input (by channel index, 0-based)."""
    import av

    if len(channels) == 1 and next(iter(channels.values())) < 0:
        (name,) = channels
        blocks = list(iter_file_blocks(path, block_s=30.0))
        return {name: np.concatenate(blocks) if blocks else np.zeros(0, np.float32)}
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise AudioError(f"{path}: not a readable audio file ({exc})") from None
    with container:
        stream = container.streams.audio[0]
        n_in = stream.channels
        for name, idx in channels.items():
            if idx >= n_in:
                raise AudioError(f"{path}: input {name!r} wants channel {idx + 1}, "
                                 f"but the file has {n_in}")
        resampler = av.AudioResampler(format="fltp", rate=SAMPLE_RATE)
        planes: list[np.ndarray] = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                planes.append(out.to_ndarray())
        for out in resampler.resample(None):
            planes.append(out.to_ndarray())
    if not planes:
        raise AudioError(f"{path}: contains no audio samples (empty)")
    data = np.concatenate(planes, axis=1).astype(np.float32)
    return {name: np.ascontiguousarray(data[idx]) for name, idx in channels.items()}


class FileSource:
    """Plays a recording as if it were a live microphone.

    Args:
        path: Any file FFmpeg reads.
        channels: Input id -> 0-based channel index; ``{"floor": -1}`` downmixes all.
        speed: 1.0 paces in real time; N plays N times faster; 0 as fast as possible.
        block_s: Size of each chunk.
        loop: Play the recording again from its start each time it ends, until
            :meth:`stop` (the demo). Stream time goes on across the passes, so the
            session sees one continuous input.

    Attributes:
        passes: How many times playback has started (1 during the first pass).
    """

    def __init__(self, path: str | Path, channels: Mapping[str, int] | None = None,
                 speed: float = 1.0, block_s: float = BLOCK_S, loop: bool = False) -> None:
        self.path = Path(path)
        self.channels = dict(channels or {"floor": -1})
        self.inputs = tuple(self.channels)
        self.speed = speed
        self.block = int(block_s * SAMPLE_RATE)
        self.loop = loop
        self.passes = 0
        self._stopped = asyncio.Event()

    def stop(self) -> None:
        self._stopped.set()

    async def events(self) -> AsyncIterator[AudioChunk | Status]:
        loop = asyncio.get_running_loop()
        tracks = await loop.run_in_executor(None, _decode_channels, self.path, self.channels)
        total = max(len(a) for a in tracks.values())
        start_wall = time.monotonic()
        yield Status("listening", time.time_ns(), detail={
            "source": "file", "path": str(self.path), "inputs": list(self.inputs),
            "duration_s": round(total / SAMPLE_RATE, 3)})
        pos = 0
        played = 0  # samples of the passes before this one
        self.passes = 1
        while not self._stopped.is_set():
            if pos >= total:
                if not self.loop or total == 0:
                    break
                played += total
                pos = 0
                self.passes += 1
                log.info("%s: playing it again (pass %d)", self.path, self.passes)
            end = min(pos + self.block, total)
            if self.speed > 0:
                # Pace by the wall clock, so a slow consumer does not slow the "speaker".
                due = start_wall + (played + end) / SAMPLE_RATE / self.speed
                delay = due - time.monotonic()
                if delay > 0:
                    try:
                        await asyncio.wait_for(self._stopped.wait(), delay)
                        break
                    except TimeoutError:
                        pass
            now = time.time_ns()
            for name, audio in tracks.items():
                block = audio[pos:end]
                if len(block) < end - pos:
                    block = np.pad(block, (0, end - pos - len(block)))
                yield AudioChunk(name, block, (played + pos) / SAMPLE_RATE, now)
            pos = end
            if self.speed <= 0:
                await asyncio.sleep(0)
        yield Status("ended", time.time_ns(), detail={"source": "file", "path": str(self.path)})
