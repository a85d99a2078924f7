"""captioner.record.recorder: segmented FLAC recording, its index, crashes and full disks."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from captioner.inputs.audio import decode_file
from captioner.record.recorder import AudioRecorder, read_segments

REPO = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).resolve().parents[1] / "journal_writer.py"


def tone(seconds: float, start_s: float = 0.0, rate: int = 16000) -> np.ndarray:
    t = start_s + np.arange(round(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("backend", ["soundfile", "av"])
def test_recorder_writes_playable_segments(tmp_path, backend):
    audio = tone(2.6)
    with AudioRecorder(tmp_path, segment_s=1.0, backend=backend) as recorder:
        for i in range(0, len(audio), 1600):
            assert recorder.write("floor", audio[i:i + 1600], i / 16000)
        # The input comes back after a gap: a new segment must start at the new time.
        assert recorder.write("floor", tone(0.5, 10.0), 10.0)
        assert recorder.write("booth", tone(0.3), 0.0)
    segments = read_segments(tmp_path)
    assert [(s.input_id, s.path.name, s.start_s, s.end_s) for s in segments] == [
        ("floor", "floor-0001.flac", 0.0, 1.0),
        ("floor", "floor-0002.flac", 1.0, 2.0),
        ("floor", "floor-0003.flac", 2.0, 2.6),
        ("floor", "floor-0004.flac", 10.0, 10.5),
        ("booth", "booth-0001.flac", 0.0, 0.3),
    ]
    for seg in segments:
        decoded = decode_file(seg.path)
        expected = tone(seg.end_s - seg.start_s, seg.start_s)
        assert len(decoded) == len(expected)
        assert np.abs(decoded - expected).max() < 1e-3  # 16-bit FLAC


def test_recorder_numbering_continues_after_a_restart(tmp_path):
    with AudioRecorder(tmp_path, segment_s=1.0) as recorder:
        recorder.write("floor", tone(1.5), 0.0)
    with AudioRecorder(tmp_path, segment_s=1.0) as recorder:
        recorder.write("floor", tone(0.5, 30.0), 30.0)
    names = [s.path.name for s in read_segments(tmp_path)]
    assert names == ["floor-0001.flac", "floor-0002.flac", "floor-0003.flac"]


def test_recorder_is_thread_safe(tmp_path):
    recorder = AudioRecorder(tmp_path, segment_s=0.5)

    def feed(input_id: str) -> None:
        for i in range(20):
            assert recorder.write(input_id, tone(0.1, i * 0.1), i * 0.1)

    threads = [threading.Thread(target=feed, args=(name,)) for name in ("floor", "booth")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    recorder.close()
    for name in ("floor", "booth"):
        segs = [s for s in read_segments(tmp_path) if s.input_id == name]
        assert [(s.start_s, s.end_s) for s in segs] == [(0.0, 0.5), (0.5, 1.0), (1.0, 1.5),
                                                        (1.5, 2.0)]
        assert sum(len(decode_file(s.path)) for s in segs) == 32000


def test_killed_recorder_leaves_earlier_segments_playable(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.Popen([sys.executable, str(WRITER), "audio", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
    try:
        written, buf = 0.0, b""
        deadline = time.monotonic() + 120
        while written < 3.6:
            left = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([proc.stdout], [], [], left)
            assert ready, "recorder child stalled"
            chunk = os.read(proc.stdout.fileno(), 4096)
            assert chunk, proc.stderr.read()
            buf += chunk
            *done, buf = buf.split(b"\n")
            written = max([written, *(float(x) for x in done if x)])
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    segments = read_segments(tmp_path)
    closed = [s for s in segments if s.end_s is not None]
    assert len(closed) >= 3
    assert segments[-1].end_s is None  # the open one when the process died
    for seg in closed:
        assert seg.end_s - seg.start_s == pytest.approx(1.0)
        decoded = decode_file(seg.path)
        assert len(decoded) == 16000
        assert np.abs(decoded - tone(1.0, seg.start_s)).max() < 1e-3


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs, or a skip where mounting is not permitted."""
    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount") or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
            capture_output=True, check=False).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def test_recorder_stops_cleanly_on_a_full_disk(small_disk):
    rng = np.random.default_rng(7)
    recorder = AudioRecorder(small_disk, segment_s=0.5)
    results = []
    for i in range(100):  # noise barely compresses: 256 KiB lasts a few seconds
        block = rng.uniform(-0.5, 0.5, 1600).astype(np.float32)
        results.append(recorder.write("floor", block, i * 0.1))
    assert False in results
    assert not any(results[results.index(False):])
    assert recorder.healthy is False
    assert "disk full" in (recorder.error or "")
    segments = read_segments(small_disk)
    closed = [s for s in segments if s.end_s is not None]
    assert closed and segments[-1].end_s is None  # the one that hit the full disk
    for seg in closed:  # a segment listed as closed is complete
        assert len(decode_file(seg.path)) == 8000
    # Space freed: the operator restarts recording, which goes on in a new segment.
    for path in (small_disk / "floor").glob("*.flac"):
        path.unlink()
    recorder.restart()
    assert recorder.healthy
    assert recorder.write("floor", tone(0.2, 20.0), 20.0)
    recorder.close()  # never raises either
    last = read_segments(small_disk)[-1]
    assert (last.start_s, last.end_s) == (20.0, 20.2)
    assert len(decode_file(last.path)) == 3200
