"""captioner.record.session and captioner.record.docexport: session folders, audio, and exports."""

from __future__ import annotations

import errno
import json
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from captioner.config import CaptionsConfig
from captioner.delivery.wire import caption_to_dict
from captioner.errors import CaptionerError
from captioner.events import Caption, Status
from captioner.inputs.audio import decode_file
from captioner.layout import MIN_GAP_S
from captioner.record.docexport import (
    FORMATS,
    captions_config,
    export_command,
    export_session,
    language_track,
    load_transcript,
)
from captioner.record.journal import read_journal
from captioner.record.session import (
    AudioRecorder,
    SessionDir,
    input_lost,
    input_restored,
    read_segments,
    slugify,
)

REPO = Path(__file__).resolve().parent.parent
WRITER = Path(__file__).with_name("journal_writer.py")
VENUE = timezone(timedelta(hours=5))  # Tashkent
START = datetime(2025, 5, 1, 10, 0, 0, tzinfo=VENUE)
T0_NS = int(START.timestamp()) * 10**9
CFG = CaptionsConfig()
EPS = 1e-3

RU_WORDS = ("добрый день уважаемые коллеги сегодня мы обсуждаем изменение климата в "
            "центральной азии и сотрудничество между нашими странами водные ресурсы "
            "региона сокращаются").split()
EN_WORDS = ("good afternoon ladies and gentlemen today we will discuss climate finance for "
            "central asia and the role of development banks water resources are "
            "shrinking").split()


class Maker:
    """Builds committed captions with consecutive seq numbers."""

    def __init__(self) -> None:
        self.seq = 0

    def __call__(self, lang: str, text: str, start_s: float, end_s: float,
                 source: str = "floor", input_id: str | None = None) -> Caption:
        self.seq += 1
        return Caption(id=f"u{self.seq}", final=True, lang=lang, text=text, start_s=start_s,
                       end_s=end_s, emitted_ns=T0_NS + int((end_s + 1.0) * 1e9),
                       source=source,
                       input_id=input_id or ("booth" if source == "interpretation" else "floor"),
                       seq=self.seq)


def sentence(words: tuple[str, ...] | list[str], n: int, k: int) -> str:
    chosen = [words[(k * 7 + i * 3) % len(words)] for i in range(n)]
    return " ".join(chosen).capitalize() + "."


def make_session(root: Path, events: list[Caption | Status], title: str = "Климат и вода",
                 config: dict | None = None) -> SessionDir:
    session = SessionDir.create(root, title, START, config=config or {},
                                models={"asr": "whisper-base"}, inputs=["floor", "booth"])
    with session.open_journal() as journal:
        for event in events:
            assert journal.append(event)
    session.close(START + timedelta(hours=1, minutes=2, seconds=3))
    return session


def conference(make: Maker) -> list[Caption | Status]:
    """Russian floor with English machine translation, an English booth for part of it,
    an input gap, and captions short and long."""
    events: list[Caption | Status] = [Status("session_started", T0_NS)]
    t = 1.0
    for k in range(12):
        n = (1, 4, 9, 16, 25, 3)[k % 6]
        span = max(0.3, n * 0.4)
        events.append(make("ru", sentence(RU_WORDS, n, k), t, t + span))
        events.append(make("en", sentence(EN_WORDS, n, k), t, t + span, "machine"))
        if 4 <= k < 8:  # the booth interprets these, a couple of seconds behind
            events.append(make("en", "Booth: " + sentence(EN_WORDS, n, k + 1), t + 1.5,
                               t + 1.5 + span, "interpretation"))
        if k == 9:
            events.append(input_lost("booth", t, T0_NS + int(t * 1e9), "device unplugged"))
            events.append(input_restored("booth", t + 3.2, T0_NS + int((t + 3.2) * 1e9), 3.2))
        t += span + (0.2 if k % 3 else 3.0)
    return events


@pytest.fixture
def session(tmp_path) -> SessionDir:
    return make_session(tmp_path / "sessions", conference(Maker()))


def parse_srt(text: str) -> list[tuple[float, float, list[str]]]:
    def secs(stamp: str) -> float:
        h, m, s = stamp.replace(",", ".").split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    cues = []
    for block in text.strip().split("\n\n"):
        lines = block.split("\n")
        assert lines[0].isdigit()
        start, end = lines[1].split(" --> ")
        cues.append((secs(start), secs(end), lines[2:]))
    return cues


def exported(session: SessionDir, suffix: str) -> Path:
    return session.export_dir / f"{session.name}{suffix}"


# -- session folders ---------------------------------------------------------------------


def test_slugify():
    assert slugify("Климат и вода: Central Asia!") == "klimat-i-voda-central-asia"
    assert slugify("   ") == ""
    assert len(slugify("x" * 100)) == 40


def test_create_makes_a_complete_session_folder(tmp_path):
    root = tmp_path / "sessions"
    session = SessionDir.create(root, "Climate & water", START,
                                config=CaptionsConfig(), inputs=["floor"])
    assert session.path == root / "2025-05-01_100000_climate-water"
    assert (session.path / "journal.jsonl").read_bytes() == b""
    assert (session.path / "audio").is_dir()
    meta = json.loads((session.path / "session.json").read_text(encoding="utf-8"))
    assert meta["title"] == "Climate & water"
    assert meta["started_at"] == "2025-05-01T10:00:00.000+05:00"
    assert meta["stopped_at"] is None
    assert meta["config"]["max_chars_ru"] == 39
    assert meta["inputs"] == ["floor"]
    assert [p.name for p in root.iterdir()] == [session.name]  # no staging left over
    again = SessionDir.create(root, "Climate & water", START)
    assert again.name == "2025-05-01_100000_climate-water-2"
    untitled = SessionDir.create(root, None, START + timedelta(seconds=1))
    assert untitled.name == "2025-05-01_100001"


def test_open_rejects_what_is_not_a_session(tmp_path):
    with pytest.raises(CaptionerError, match="no such session folder"):
        SessionDir.open(tmp_path / "missing")
    with pytest.raises(CaptionerError, match="not a captioner session folder") as err:
        SessionDir.open(tmp_path)
    assert err.value.hint
    (tmp_path / "session.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(CaptionerError, match="unreadable session metadata"):
        SessionDir.open(tmp_path)
    (tmp_path / "session.json").write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(CaptionerError, match="not captioner session metadata"):
        SessionDir.open(tmp_path)


def test_resume_and_close_update_the_metadata(tmp_path):
    session = SessionDir.create(tmp_path, "t", START)
    with session.open_journal() as journal:
        journal.append(Maker()("ru", "Привет.", 1.0, 2.0))
    session.close(START + timedelta(minutes=5))
    reopened = SessionDir.open(session.path)
    assert reopened.stopped_at == START + timedelta(minutes=5)
    offset = reopened.mark_resumed(START + timedelta(minutes=7, seconds=30))
    assert offset == 450.0
    again = SessionDir.open(session.path)
    assert again.stopped_at is None
    assert len(again.meta["runs"]) == 2
    with again.open_journal() as journal:
        assert journal.last_seq == 1



def test_a_failing_disk_is_an_error_but_a_folder_that_cannot_be_synced_is_not(tmp_path,
                                                                              monkeypatch):
    real = os.fsync

    def folder_fsync_failing(code: int):
        def fsync(fd: int) -> None:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                raise OSError(code, os.strerror(code))
            real(fd)
        return fsync

    monkeypatch.setattr(os, "fsync", folder_fsync_failing(errno.ENOTSUP))
    session = SessionDir.create(tmp_path, "t", START)  # e.g. a network filesystem
    session.close(START + timedelta(minutes=1))
    assert SessionDir.open(session.path).stopped_at == START + timedelta(minutes=1)
    monkeypatch.setattr(os, "fsync", folder_fsync_failing(errno.EIO))
    with pytest.raises(CaptionerError, match="cannot create a session folder"):
        SessionDir.create(tmp_path, "u", START)
    with pytest.raises(CaptionerError, match="session.json: cannot write"):
        session.save()

# -- audio recording ----------------------------------------------------------------------


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


# -- exports ------------------------------------------------------------------------------


def test_export_writes_every_format(session):
    report = export_session(session.path)
    names = sorted(p.name for p in report.paths)
    stem = session.name
    assert names == sorted([f"{stem}.{lang}.{fmt}" for lang in ("ru", "en")
                            for fmt in ("srt", "vtt", "txt")]
                           + [f"{stem}.md", f"{stem}.docx", f"{stem}.json"])
    assert all(p.parent == session.path / "export" and p.stat().st_size for p in report.paths)
    assert report.bad_lines == [] and not report.torn_tail and report.empty_langs == []
    assert not list(session.export_dir.glob(".*"))  # no temporary files left


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_srt_and_vtt_follow_the_timing_and_line_rules(session, lang):
    export_session(session.path, formats=("srt", "vtt"), langs=(lang,))
    cues = parse_srt(exported(session, f".{lang}.srt").read_text(encoding="utf-8"))
    assert len(cues) > 12
    limit = 39 if lang == "ru" else 42
    for i, (start, end, lines) in enumerate(cues):
        assert 1 <= len(lines) <= CFG.max_lines
        assert all(len(line) <= limit for line in lines)
        nxt = cues[i + 1][0] if i + 1 < len(cues) else None
        assert end > start
        if nxt is not None:
            assert end <= nxt + EPS  # no overlaps
        limited_by_next = nxt is not None and end >= nxt - MIN_GAP_S - EPS
        if not limited_by_next:
            assert end - start >= CFG.min_duration_s - EPS
            wanted = min(len(" ".join(lines)) / CFG.max_cps, CFG.max_duration_s)
            assert end - start >= wanted - EPS
    text = " ".join(" ".join(lines) for _, _, lines in cues)
    other = re.compile("[a-z]" if lang == "ru" else "[а-я]")
    assert not other.search(text.lower())  # one language per file
    vtt = exported(session, f".{lang}.vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\n\n")
    assert len(re.findall(r"^\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}$", vtt,
                          re.MULTILINE)) == len(cues)


def test_english_track_prefers_the_booth_over_machine_translation(session):
    export_session(session.path, formats=("srt", "txt"), langs=("en",))
    srt = exported(session, ".en.srt").read_text(encoding="utf-8")
    txt = exported(session, ".en.txt").read_text(encoding="utf-8")
    assert "Booth:" in srt and "Booth:" in txt
    doc, _ = load_transcript(session)
    track = language_track(doc.captions, "en")
    # While the booth talks, the overlapping machine captions are left out...
    booth = [c for c in track if c.source == "interpretation"]
    assert len(booth) == 4
    for c in track:
        if c.source == "machine":
            assert all(min(c.end_s, b.end_s) - max(c.start_s, b.start_s)
                       <= 0.5 * (c.end_s - c.start_s) for b in booth)
    # ...and outside those stretches machine translation is kept.
    assert sum(c.source == "machine" for c in track) >= 8


def test_vtt_escapes_markup(tmp_path):
    make = Maker()
    session = make_session(tmp_path, [make("en", "Use <b> & x --> y now.", 1.0, 3.0)])
    export_session(session, formats=("vtt", "srt"), langs=("en",))
    vtt = exported(session, ".en.vtt").read_text(encoding="utf-8")
    assert "Use &lt;b&gt; &amp; x --&gt; y now." in vtt
    assert "Use <b> & x --> y now." in exported(session, ".en.srt").read_text(encoding="utf-8")


def test_only_committed_captions_are_exported(tmp_path):
    make = Maker()
    session = make_session(tmp_path, [make("ru", "Окончательный текст.", 1.0, 3.0)])
    partial = caption_to_dict(Caption("p1", False, "ru", "Черновик который исчез", 4.0, 5.0,
                                      T0_NS, revision=2))
    with session.journal_path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(partial, ensure_ascii=False) + "\n")
    report = export_session(session)
    assert report.captions == 1
    for path in report.paths:
        if path.suffix == ".docx":
            import docx

            text = "\n".join(c.text for t in docx.Document(str(path)).tables
                             for r in t.rows for c in r.cells)
        else:
            text = path.read_text(encoding="utf-8")
        assert "Черновик" not in text, path.name
    assert "Окончательный текст." in exported(session, ".ru.srt").read_text(encoding="utf-8")


def test_markdown_has_header_sources_and_gaps(session):
    export_session(session.path, formats=("md",))
    md = exported(session, ".md").read_text(encoding="utf-8")
    assert md.startswith("# Климат и вода\n")
    assert "- **Date:** 2025-05-01" in md
    assert "- **Time:** 10:00:00 – 11:02:03 (UTC+05:00)" in md
    assert "- **Times:** since the session start" in md
    assert re.search(r"^\*\*\[00:00:01\] RU · floor\*\* \S", md, re.MULTILINE)
    assert re.search(r"^\*\*\[00:00:01\] EN · machine translation\*\* \S", md, re.MULTILINE)
    assert re.search(r"^\*\*\[\d\d:\d\d:\d\d\] EN · interpretation\*\* Booth:", md,
                     re.MULTILINE)
    assert "booth input lost (device unplugged)" in md
    assert "booth input restored after 3.2 s" in md
    stamps = re.findall(r"^\*\*\[(\d\d:\d\d:\d\d)\]", md, re.MULTILINE)
    assert stamps == sorted(stamps)


def test_docx_opens_and_holds_the_transcript(session):
    import docx

    export_session(session.path, formats=("docx",))
    document = docx.Document(str(exported(session, ".docx")))
    body = "\n".join(p.text for p in document.paragraphs)
    assert "Климат и вода" in body and "2025-05-01" in body
    table = document.tables[0]
    assert [c.text for c in table.rows[0].cells] == ["Time", "RU", "EN"]
    cells = "\n".join(c.text for r in table.rows for c in r.cells)
    doc, _ = load_transcript(session)
    for cap in doc.captions:
        assert cap.text in cells
    assert "floor: " in cells and "machine translation: " in cells
    assert "interpretation: " in cells
    assert "booth input lost" in cells
    first = table.rows[1].cells
    assert first[0].text == "00:00:01"
    assert first[1].text.startswith("floor: ") and first[2].text.startswith(
        "machine translation: ")


def test_wall_clock_shows_the_venue_time(session):
    export_session(session.path, formats=("md", "txt", "json", "srt"), langs=("ru",),
                   wall_clock=True)
    md = exported(session, ".md").read_text(encoding="utf-8")
    assert "**[10:00:01] RU · floor**" in md
    assert "- **Times:** local time of day" in md
    assert exported(session, ".ru.txt").read_text(encoding="utf-8").startswith("[10:00:01] ")
    data = json.loads(exported(session, ".json").read_text(encoding="utf-8"))
    assert data["times"] == "wall_clock" and data["captions"][0]["clock"] == "10:00:01"
    # Subtitles keep media time, so that they still match a recording.
    assert "00:00:01,000 -->" in exported(session, ".ru.srt").read_text(encoding="utf-8")
    export_session(session.path, formats=("md",), langs=("ru",))
    assert "**[00:00:01] RU · floor**" in exported(session, ".md").read_text(encoding="utf-8")


def test_json_holds_every_committed_caption(session):
    export_session(session.path, formats=("json",))
    data = json.loads(exported(session, ".json").read_text(encoding="utf-8"))
    journal = read_journal(session.journal_path)
    assert sorted(c["seq"] for c in data["captions"]) == [c.seq for c in journal.captions]
    starts = [c["start_s"] for c in data["captions"]]
    assert starts == sorted(starts)  # in time order, like the documents
    assert all(c["type"] == "caption" and c["final"] for c in data["captions"])
    assert data["session"]["title"] == "Климат и вода"
    assert data["session"]["started_at"] == "2025-05-01T10:00:00.000+05:00"
    assert [e["state"] for e in data["events"]] == ["input_lost", "input_restored"]
    assert data["journal"] == {"bad_lines": [], "torn_tail": False}


def test_corrupt_journal_exports_the_rest_and_reports_lines(session, capsys):
    lines = session.journal_path.read_bytes().split(b"\n")
    lines[3] = b'{"type": "caption", "final": tru'
    lines[7] = b"\x00\x00garbage"
    session.journal_path.write_bytes(b"\n".join(lines) + b'{"type":"capt')  # torn tail too
    total = len(read_journal(session.journal_path).captions)
    assert export_command(session.path, formats=FORMATS, langs=("ru", "en"),
                          wall_clock=False) == 0
    out, err = capsys.readouterr()
    assert str(exported(session, ".ru.srt")) in out.splitlines()
    assert "skipped 2 damaged line(s): 4, 8" in err
    assert "last line was cut off" in err
    data = json.loads(exported(session, ".json").read_text(encoding="utf-8"))
    assert len(data["captions"]) == total
    assert data["journal"] == {"bad_lines": [4, 8], "torn_tail": True}
    report = export_session(session.path, formats=("srt",))
    assert report.bad_lines == [4, 8] and report.torn_tail


def test_language_without_captions_is_reported(tmp_path, capsys):
    make = Maker()
    session = make_session(tmp_path, [make("ru", "Только по-русски.", 1.0, 2.5)])
    assert export_command(session.path, ("srt", "md"), ("ru", "en"), False) == 0
    _, err = capsys.readouterr()
    assert "no committed en captions" in err
    assert not exported(session, ".en.srt").exists()
    assert exported(session, ".ru.srt").exists()
    assert "en 0" in exported(session, ".md").read_text(encoding="utf-8")


def test_export_errors_are_user_errors(tmp_path, session):
    with pytest.raises(CaptionerError, match="not a captioner session folder"):
        export_command(tmp_path, ("srt",), ("ru",), False)
    with pytest.raises(CaptionerError, match="unknown export format 'pdf'"):
        export_session(session.path, formats=("srt", "pdf"))


def test_layout_settings_come_from_the_session_snapshot(tmp_path):
    make = Maker()
    config = {"captions": {"max_chars_en": 20, "max_lines": 1}, "asr": {"model": "x"}}
    session = make_session(tmp_path, [make("en", sentence(EN_WORDS, 20, 1), 1.0, 8.0)],
                           config=config)
    assert captions_config(session.meta) == CaptionsConfig(max_chars_en=20, max_lines=1)
    export_session(session.path, formats=("srt",), langs=("en",))
    for _, _, lines in parse_srt(exported(session, ".en.srt").read_text(encoding="utf-8")):
        assert len(lines) == 1 and len(lines[0]) <= 20


def test_fragments_of_an_utterance_are_joined_for_documents():
    from captioner.events import Caption
    from captioner.record.docexport import join_utterances

    def cap(seq, cid, text, start, end, source="floor", lang="ru"):
        return Caption(id=cid, final=True, lang=lang, text=text, start_s=start, end_s=end,
                       emitted_ns=0, source=source, seq=seq)

    joined = join_utterances([
        cap(1, "floor-1", "Добрый день,", 0.0, 1.0),
        cap(2, "booth-1", "Good", 0.5, 1.0, "interpretation", "en"),
        cap(3, "floor-1", "уважаемые коллеги.", 1.0, 2.0),
        cap(4, "booth-1", "afternoon.", 1.0, 2.5, "interpretation", "en"),
        cap(5, "floor-2", "Начнём.", 3.0, 4.0),
    ])
    assert [(c.text, c.seq, c.start_s, c.end_s) for c in joined] == [
        ("Добрый день, уважаемые коллеги.", 1, 0.0, 2.0),
        ("Good afternoon.", 2, 0.5, 2.5),
        ("Начнём.", 5, 3.0, 4.0),
    ]
