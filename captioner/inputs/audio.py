"""Decoding audio files into 16 kHz mono float32, with errors that name the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from captioner.errors import AudioError
from captioner.events import SAMPLE_RATE


def _open(path: Path):
    import av

    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise AudioError(f"{path}: not a readable audio or video file ({_why(exc)})") from None
    if not container.streams.audio:
        container.close()
        raise AudioError(f"{path}: contains no audio stream")
    return container


def _why(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.strip().rstrip(".") or type(exc).__name__


def iter_file_blocks(path: str | Path, block_s: float = 0.5) -> Iterator[np.ndarray]:
    """Decodes a file lazily, yielding 16 kHz mono float32 blocks of ``block_s`` seconds.

    Any format FFmpeg (through PyAV) reads: wav, flac, ogg, mp3, mp4, ...

    Raises:
        AudioError: the file is missing, unreadable, has no audio or is corrupt.
    """
    import av

    path = Path(path)
    container = _open(path)
    block_len = int(block_s * SAMPLE_RATE)
    pending: list[np.ndarray] = []
    pending_len = 0
    try:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        stream = container.streams.audio[0]

        def resampled():
            for packet in container.demux(stream):
                for frame in packet.decode():
                    yield from resampler.resample(frame)
            yield from resampler.resample(None)

        for frame in resampled():
            data = frame.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            pending.append(data)
            pending_len += len(data)
            while pending_len >= block_len:
                joined = np.concatenate(pending)
                yield joined[:block_len]
                rest = joined[block_len:]
                pending, pending_len = ([rest], len(rest)) if len(rest) else ([], 0)
        if pending_len:
            yield np.concatenate(pending)
    except av.error.FFmpegError as exc:
        raise AudioError(f"{path}: corrupt or undecodable audio ({_why(exc)})") from None
    finally:
        container.close()


def decode_file(path: str | Path) -> np.ndarray:
    """Decodes a whole file to 16 kHz mono float32.

    Raises:
        AudioError: as :func:`iter_file_blocks`, or when the file holds no samples.
    """
    blocks = list(iter_file_blocks(path, block_s=30.0))
    if not blocks:
        raise AudioError(f"{path}: contains no audio samples (empty)")
    return np.concatenate(blocks)
