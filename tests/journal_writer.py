"""Child process for the crash tests: writes until it is killed, reporting progress.

Usage::

    journal_writer.py captions JOURNAL
        Appends committed captions seq 1, 2, ... forever; prints each seq on stdout
        after append() returned True.
    journal_writer.py fsize JOURNAL LIMIT_BYTES
        Disk-full by RLIMIT_FSIZE: appends until append() fails, lifts the limit, syncs,
        and prints one JSON line of what it saw.
    journal_writer.py audio AUDIO_DIR
        Records a tone in 1 s segments forever, 0.25 s per write; prints the stream time
        written so far after each write.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
from pathlib import Path

import numpy as np

from captioner.events import Caption
from captioner.record.journal import Journal
from captioner.record.recorder import AudioRecorder

EMITTED_NS = 1_746_075_600_000_000_000


def caption(seq: int) -> Caption:
    return Caption(id=f"u{seq}", final=True, lang="ru" if seq % 2 else "en",
                   text=f"Реплика номер {seq}: the quick brown fox jumps over the lazy dog.",
                   start_s=seq * 2.0, end_s=seq * 2.0 + 1.5, emitted_ns=EMITTED_NS + seq,
                   seq=seq)


def write_captions(path: Path) -> None:
    journal = Journal(path)
    seq = 0
    while True:
        seq += 1
        if journal.append(caption(seq)):
            print(seq, flush=True)


def fill_to_limit(path: Path, limit: int) -> None:
    # Without this the kernel kills us with SIGXFSZ instead of failing the write.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    journal = Journal(path)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    seq, first_failed = 0, None
    while first_failed is None and seq < 10_000:
        seq += 1
        if not journal.append(caption(seq)):
            first_failed = seq
    later = [journal.append(caption(seq + i)) for i in (1, 2, 3)]
    seen = {"first_failed": first_failed, "later": later, "healthy": journal.healthy,
            "error": journal.error, "pending": journal.pending}
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # "space freed"
    seen.update(synced=journal.sync(), healthy_after=journal.healthy,
                error_after=journal.error, pending_after=journal.pending, last_seq=seq + 3)
    journal.close()
    print(json.dumps(seen), flush=True)


def record_audio(audio_dir: Path) -> None:
    rate, block = 16000, 4000
    recorder = AudioRecorder(audio_dir, segment_s=1.0)
    t = np.arange(block) / rate
    written = 0
    while True:
        tone = (0.3 * np.sin(2 * np.pi * 440 * (t + written / rate))).astype(np.float32)
        if not recorder.write("floor", tone, written / rate):
            sys.exit(f"recorder failed: {recorder.error}")
        written += block
        print(f"{written / rate:.2f}", flush=True)


def main() -> None:
    mode, target = sys.argv[1], Path(sys.argv[2])
    if mode == "captions":
        write_captions(target)
    elif mode == "fsize":
        fill_to_limit(target, int(sys.argv[3]))
    elif mode == "audio":
        record_audio(target)
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
