"""Re-transcription of a recorded session after the event: the organisers' clean copy.

The session's recorded audio (one FLAC series per input) is put back on the session
clock and transcribed offline, span by span, usually with a larger model than the live
run could afford. The result is written as a session of its own in ``SESSION/clean/``
(journal and session.json), so every export format works on it unchanged.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from captioner.errors import AudioError, CaptionerError
from captioner.events import SAMPLE_RATE, Caption
from captioner.inputs.audio import decode_file
from captioner.recognition.asr import WhisperEngine

log = logging.getLogger(__name__)

CLEAN = "clean"


def is_session_dir(path: Path) -> bool:
    return path.is_dir() and (path / "session.json").is_file()


def session_audio(session_dir: Path) -> dict[str, np.ndarray]:
    """Each input's recording on the session clock; gaps (device lost) are silence.

    Raises:
        CaptionerError: the session has no recorded audio.
    """
    from captioner.record.recorder import read_segments

    per_input: dict[str, list[tuple[float, np.ndarray]]] = {}
    for seg in read_segments(session_dir / "audio"):
        try:
            samples = decode_file(seg.path)
        except AudioError as exc:
            log.warning("skipping a damaged audio segment: %s", exc)
            continue
        per_input.setdefault(seg.input_id, []).append((seg.start_s, samples))
    if not per_input:
        raise CaptionerError(f"{session_dir}: no recorded audio to transcribe",
                             hint="sessions record audio unless session.record_audio = false")
    out = {}
    for input_id, pieces in per_input.items():
        end = max(int(start * SAMPLE_RATE) + len(a) for start, a in pieces)
        track = np.zeros(end, dtype=np.float32)
        for start, audio in pieces:
            at = int(start * SAMPLE_RATE)
            track[at:at + len(audio)] = audio  # a later run overwrites an overlap
        out[input_id] = track
    return out


def _sources(meta: dict) -> dict[str, str]:
    inputs = (meta.get("config") or {}).get("inputs") or []
    return {i.get("id"): i.get("source", "floor") for i in inputs if isinstance(i, dict)}


def retranscribe_session(engine: WhisperEngine, session_dir: Path, model_name: str,
                         language: str | None, beam_size: int) -> Path:
    """Transcribes a session's audio into ``SESSION/clean/`` and returns that folder."""
    from captioner.recognition.transcribe import Dropped, transcribe_audio
    from captioner.record.journal import Journal
    from captioner.record.journal_read import read_journal
    from captioner.record.session import PROGRAMME_FILE
    from captioner.record.transcript import carry_speakers

    meta = json.loads((session_dir / "session.json").read_text(encoding="utf-8"))
    sources = _sources(meta)
    tracks = session_audio(session_dir)
    captions: list[Caption] = []
    dropped: dict[str, list[Dropped]] = {}
    for input_id, audio in tracks.items():
        total = len(audio) / SAMPLE_RATE
        with tqdm(total=round(total), desc=f"{session_dir.name}/{input_id}", unit="s",
                  file=sys.stderr, leave=False, disable=None) as bar:
            segments, _ = transcribe_audio(
                engine, audio, language, beam_size,
                progress=lambda done, bar=bar: bar.update(max(0.0, done - bar.n)),
                dropped=dropped.setdefault(input_id, []))
        for drop in dropped[input_id]:
            log.warning("%s/%s: %.1f-%.1f s: speech that no decoding could read (%s); left "
                        "out", session_dir.name, input_id, drop.start_s, drop.end_s,
                        drop.reason)
        source = sources.get(input_id, "floor")
        for n, seg in enumerate(segments, 1):
            captions.append(Caption(
                id=f"clean-{input_id}-{n}", final=True, lang=seg.lang, text=seg.text.strip(),
                start_s=seg.start_s, end_s=seg.end_s, emitted_ns=time.time_ns(),
                source=source, input_id=input_id))  # type: ignore[arg-type]
    captions.sort(key=lambda c: (c.start_s, c.input_id))
    # Who spoke when is the live record's: the operator named the speakers as they spoke.
    live = session_dir / "journal.jsonl"
    if live.is_file():
        captions = carry_speakers(captions, read_journal(live).captions)
    clean = session_dir / CLEAN
    staging = session_dir / f".{CLEAN}-staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    clean_meta = dict(meta, title=f"{meta.get('title') or meta.get('name', '')} (clean)",
                      models={"asr": model_name}, retranscribed_from=str(session_dir),
                      speech_dropped={i: [{"start_s": round(d.start_s, 3),
                                           "end_s": round(d.end_s, 3), "reason": d.reason}
                                          for d in drops] for i, drops in dropped.items()})
    (staging / "session.json").write_text(json.dumps(clean_meta, ensure_ascii=False, indent=2),
                                          encoding="utf-8")
    if (session_dir / PROGRAMME_FILE).is_file():
        shutil.copyfile(session_dir / PROGRAMME_FILE, staging / PROGRAMME_FILE)
    with Journal(staging / "journal.jsonl") as journal:
        for seq, caption in enumerate(captions, 1):
            from dataclasses import replace

            journal.append(replace(caption, seq=seq))
    if clean.exists():
        shutil.rmtree(clean)
    staging.rename(clean)
    return clean
