"""The session's audio recording: each input into gap-free, segmented FLAC files.

Layout of a session's ``audio/`` folder::

    segments.jsonl                                     the index: one line per open/close
    <input>/<input>-0001.flac, -0002.flac, ...         SEGMENT_S-long FLAC segments

Each line of ``segments.jsonl`` is ``{"event": "open", "input", "file", "start_s",
"sample_rate"}`` or ``{"event": "close", "input", "file", "start_s", "end_s"}``, with
``file`` relative to the audio folder and times in session stream seconds. A segment
without a ``close`` line was cut short by a crash or a disk failure.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from captioner.events import SAMPLE_RATE

log = logging.getLogger(__name__)

SEGMENTS_INDEX = "segments.jsonl"

# Audio is cut into segments this long, so that a crash damages at most the last one.
SEGMENT_S = 60.0
# A jump in stream time bigger than this between two chunks starts a new segment: a
# FLAC file has no timestamps, so each segment must be gap-free from its start_s.
GAP_TOLERANCE_S = 0.1
# Below this much free space a write failure is reported as a full disk.
_NEARLY_FULL_BYTES = 1024 * 1024


def _safe_name(input_id: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", input_id).strip("-")
    return name or "input"


@dataclass(frozen=True)
class AudioSegment:
    """One FLAC segment of an input's recording, as listed in ``segments.jsonl``.

    Attributes:
        input_id: The input it records.
        path: The FLAC file.
        start_s: Stream time of its first sample.
        end_s: Stream time after its last sample; ``None`` when it was never closed
            (the recorder died: the file may be truncated).
    """

    input_id: str
    path: Path
    start_s: float
    end_s: float | None


def read_segments(audio_dir: str | Path) -> list[AudioSegment]:
    """The recorded segments, in the order they were opened; damaged index lines skipped."""
    audio_dir = Path(audio_dir)
    index = audio_dir / SEGMENTS_INDEX
    if not index.exists():
        return []
    opened: dict[str, AudioSegment] = {}
    for number, line in enumerate(index.read_bytes().split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            key = str(entry["file"])
            if entry["event"] == "open":
                opened.pop(key, None)  # a file name reused after deletion: the new one
                opened[key] = AudioSegment(str(entry["input"]), audio_dir / key,
                                           float(entry["start_s"]), None)
            elif entry["event"] == "close" and key in opened:
                opened[key] = dataclasses.replace(opened[key], end_s=float(entry["end_s"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s: line %d skipped (%s)", index, number, exc)
    return list(opened.values())


class _CheckedFile:
    """A file for libsndfile's virtual I/O that remembers write errors.

    libsndfile does not report a write that fails while it closes a FLAC file (the last
    frames and the header update), so a segment finished on a full disk would look
    complete. Writing through this object lets :class:`_FlacWriter` see every failure.
    """

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "w+b", buffering=0)  # noqa: SIM115 - closed by close()
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        if self.error is not None:
            return 0
        view = memoryview(data)
        done = 0
        try:
            while done < len(view):
                n = self._fh.write(view[done:])
                if not n:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                done += n
        except OSError as exc:
            # Raising inside a C callback would only print; libsndfile sees the short
            # count and the error is raised by the writer afterwards.
            self.error = exc
        return done

    def read(self, size: int = -1) -> bytes:
        return self._fh.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def close(self) -> None:
        self._fh.close()

    def check(self) -> None:
        if self.error is not None:
            raise self.error


class _FlacWriter:
    """One open FLAC file, 16-bit, through soundfile or PyAV."""

    def __init__(self, path: Path, sample_rate: int, backend: str) -> None:
        self.backend = backend
        if backend == "soundfile":
            import soundfile

            self._file = _CheckedFile(path)
            try:
                self._sf = soundfile.SoundFile(self._file, "w", samplerate=sample_rate,
                                               channels=1, format="FLAC", subtype="PCM_16")
            except Exception:
                self._file.close()
                self._file.check()
                raise
        else:
            import av

            self._container = av.open(str(path), mode="w", format="flac")
            self._stream = self._container.add_stream("flac", rate=sample_rate)
            self._stream.layout = "mono"
            self._stream.format = "s16"
            self._rate = sample_rate
            self._pts = 0

    def write(self, samples: np.ndarray) -> None:
        pcm = np.clip(samples, -1.0, 1.0)
        if self.backend == "soundfile":
            self._sf.write(pcm)
            self._file.check()
            return
        import av

        data = (pcm * 32767.0).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(data, format="s16", layout="mono")
        frame.sample_rate = self._rate
        frame.pts = self._pts
        self._pts += data.shape[1]
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        if self.backend == "soundfile":
            try:
                self._sf.close()
            finally:
                self._file.close()
            self._file.check()
            return
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()


@dataclass
class _Track:
    """The open segment of one input."""

    input_id: str
    number: int
    file: str  # relative to the audio folder
    writer: _FlacWriter
    start_s: float
    samples: int = 0

    def end_s(self, rate: int) -> float:
        return self.start_s + self.samples / rate


def default_backend() -> str:
    """``soundfile`` when installed (it bundles libsndfile), else PyAV."""
    try:
        import soundfile  # noqa: F401
    except (ImportError, OSError):
        return "av"
    return "soundfile"


class AudioRecorder:
    """Records each input's 16 kHz mono audio into segmented FLAC files.

    A new segment starts every ``segment_s`` seconds and after every jump in stream
    time, so every closed segment is a complete, playable file whose start is in
    ``segments.jsonl``; a crash damages at most each input's open segment.

    :meth:`write` is thread-safe but blocks on disk and encoding work (about a
    millisecond per half second of audio): call it from an executor, never on the event
    loop. A write failure (disk full...) stops the recording without raising; see
    :attr:`healthy`, :attr:`error` and :meth:`restart`.

    Args:
        audio_dir: The session's ``audio/`` folder (created if missing).
        segment_s: Segment length in seconds of audio.
        sample_rate: Rate of the samples given to :meth:`write`.
        backend: ``auto``, ``soundfile`` or ``av``.
    """

    def __init__(self, audio_dir: str | Path, *, segment_s: float = SEGMENT_S,
                 sample_rate: int = SAMPLE_RATE, backend: str = "auto") -> None:
        self.audio_dir = Path(audio_dir)
        self.segment_s = segment_s
        self.sample_rate = sample_rate
        self.backend = default_backend() if backend == "auto" else backend
        if self.backend not in ("soundfile", "av"):
            raise ValueError(f"unknown audio backend {backend!r}")
        self._recording_lock = threading.Lock()  # protects tracks, index and state
        self._tracks: dict[str, _Track] = {}
        self._numbers: dict[str, int] = {}  # next segment number per input folder
        self._error: str | None = None
        self._closed = False

    @property
    def healthy(self) -> bool:
        """False once a write failed and recording stopped."""
        with self._recording_lock:
            return self._error is None

    @property
    def error(self) -> str | None:
        """Why recording stopped, for an operator status; ``None`` while recording."""
        with self._recording_lock:
            return self._error

    def write(self, input_id: str, samples: np.ndarray, start_s: float) -> bool:
        """Appends an input's samples at stream time ``start_s``.

        Args:
            input_id: The input (its id names the sub-folder).
            samples: 1-D float32 samples in [-1, 1] at :attr:`sample_rate`.
            start_s: Stream time of the first sample.

        Returns:
            True when written; False when recording has stopped (see :attr:`error`).
        """
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        with self._recording_lock:
            if self._error is not None or self._closed:
                return False
            try:
                self._write(input_id, samples, start_s)
            # The recording must never take the captions down with it: whatever the
            # encoder or the disk throws (OSError, LibsndfileError, FFmpegError...)
            # stops the recording and is reported instead.
            except Exception as exc:
                self._fail(input_id, exc)
                return False
        return True

    def end_input(self, input_id: str) -> None:
        """Closes an input's open segment (input lost or stopped); the next write opens
        a new one."""
        with self._recording_lock:
            track = self._tracks.pop(input_id, None)
            if track is not None:
                try:
                    self._close_track(track)
                except Exception as exc:  # reported, see write()
                    self._fail(input_id, exc)

    def restart(self) -> None:
        """Allows writing again after a failure (e.g. once disk space was freed)."""
        with self._recording_lock:
            self._error = None

    def close(self) -> None:
        """Closes every open segment; idempotent. Never raises for disk trouble."""
        with self._recording_lock:
            tracks, self._tracks = list(self._tracks.values()), {}
            self._closed = True
            for track in tracks:
                try:
                    self._close_track(track)
                except Exception as exc:  # reported, see write()
                    self._fail(track.input_id, exc)

    def __enter__(self) -> AudioRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals (called with _recording_lock held) ---------------------------------

    def _write(self, input_id: str, samples: np.ndarray, start_s: float) -> None:
        rate = self.sample_rate
        per_segment = max(1, round(self.segment_s * rate))
        track = self._tracks.get(input_id)
        if track is not None and abs(start_s - track.end_s(rate)) > GAP_TOLERANCE_S:
            # A gap (or a clock jump): the segment must stay gap-free, so start another.
            self._close_track(self._tracks.pop(input_id))
            track = None
        done = 0
        while done < len(samples):
            if track is None:
                track = self._open_track(input_id, start_s + done / rate)
                self._tracks[input_id] = track
            room = per_segment - track.samples
            piece = samples[done:done + room]
            track.writer.write(piece)
            track.samples += len(piece)
            done += len(piece)
            if track.samples >= per_segment:
                self._close_track(self._tracks.pop(input_id))
                track = None

    def _open_track(self, input_id: str, start_s: float) -> _Track:
        name = _safe_name(input_id)
        folder = self.audio_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        number = self._numbers.get(name)
        if number is None:
            # Continue after whatever a previous run left, on disk or in the index (files
            # may have been deleted to free space).
            pattern = re.compile(rf"{re.escape(name)}-(\d+)\.flac")
            used = [p.name for p in folder.iterdir()]
            used += [s.path.name for s in read_segments(self.audio_dir)
                     if s.path.parent.name == name]
            number = 1 + max((int(m.group(1)) for n in used if (m := pattern.fullmatch(n))),
                             default=0)
        self._numbers[name] = number + 1
        file = f"{name}/{name}-{number:04d}.flac"
        writer = _FlacWriter(self.audio_dir / file, self.sample_rate, self.backend)
        track = _Track(input_id, number, file, writer, start_s)
        self._index({"event": "open", "input": input_id, "file": file,
                     "start_s": round(start_s, 4), "sample_rate": self.sample_rate})
        return track

    def _close_track(self, track: _Track) -> None:
        track.writer.close()
        # A finished segment is worth keeping through a power cut: once a minute per
        # input, an fsync is cheap.
        fd = os.open(self.audio_dir / track.file, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._index({"event": "close", "input": track.input_id, "file": track.file,
                     "start_s": round(track.start_s, 4),
                     "end_s": round(track.end_s(self.sample_rate), 4)})

    def _index(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self.audio_dir / SEGMENTS_INDEX,
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            if os.write(fd, line) != len(line):
                raise OSError(errno.ENOSPC, "short write to the segment index")
        finally:
            os.close(fd)

    def _fail(self, input_id: str, exc: BaseException) -> None:
        try:
            free = shutil.disk_usage(self.audio_dir).free
        except OSError:
            free = None
        why = (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) \
            or type(exc).__name__
        if free is not None and free < _NEARLY_FULL_BYTES:
            why = f"disk full ({why})"
        self._error = f"audio recording stopped: {input_id}: {why}"
        log.error("%s", self._error)
        # Close what can be closed, so that the audio up to the failure stays as playable
        # as it can be. These segments get no "close" entry in the index: their end_s
        # stays unknown, which is how a reader tells a damaged segment.
        tracks, self._tracks = list(self._tracks.values()), {}
        for track in tracks:
            try:
                track.writer.close()
            except Exception:
                log.debug("closing %s after a failure also failed", track.file,
                          exc_info=True)
