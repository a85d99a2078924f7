"""Who is speaking, end to end: ``captioner run`` on the two-channel demo with a
programme from a CSV, the speaker set through the real control websocket while it
plays, and what that gives: the captions of both tracks, the journal and the exports.

Which utterances get which speaker depends on how fast the machine decodes, so the
test does not fix them: it derives each utterance's expected speaker from the record
of when the operator's choice took effect (the ``speaker_set`` statuses, stamped on
the room's clock) and when the utterance began (its first caption, on the same clock).
"""

from __future__ import annotations

import asyncio
import bisect
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from captioner.runner import DEMO_RECORDING
from tests.conftest import REPO

pytestmark = pytest.mark.integration

TOKEN = "speakers-run-token-0123456789"
MODERATOR = ("Dr. Aliya Seitkali", "Moderator")
BANKER = ("Michael Turner", "Asian Development Bank")
CSV = ("title,start,end,name,role,language\n"
       f"Opening,15:00,15:10,{MODERATOR[0]},{MODERATOR[1]},ru\n"
       f",,,{BANKER[0]},{BANKER[1]},en\n")
WAIT_S = 300.0


def who(msg: dict) -> tuple[str, str] | None:
    speaker = msg.get("speaker")
    return None if speaker is None else (speaker["name"], speaker["role"])


def announced_base(log: Path, proc: subprocess.Popen) -> str:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = re.search(r"phone\s+(http://127\.0\.0\.1:\d+)/", log.read_text())
        if found:
            return found.group(1)
        assert proc.poll() is None, log.read_text()
        time.sleep(0.2)
    raise AssertionError(f"no URLs announced:\n{log.read_text()}")


async def set_speaker(control, n: int) -> None:
    await control.send(json.dumps({"id": n, "cmd": "speaker", "item": 0, "speaker": n}))
    while True:
        reply = json.loads(await asyncio.wait_for(control.recv(), 30))
        if reply["type"] in ("ack", "error"):
            assert (reply["type"], reply["id"]) == ("ack", n), reply
            return


async def watch(base: str, seen: list[dict], ready: asyncio.Event,
                first_a: asyncio.Event) -> None:
    """Every caption and status of the feed, as they come (a caption replayed on connect
    is marked so); flags the first committed floor caption that carries the moderator."""
    async with connect(base.replace("http://", "ws://") + "/ws") as ws:
        hello = json.loads(await ws.recv())
        ready.set()
        async for raw in ws:
            msg = json.loads(raw)
            msg["replayed"] = msg.get("seq") is not None and msg["seq"] <= (
                hello["last_seq"] or 0)
            seen.append(msg)
            if (msg["type"] == "caption" and msg["final"] and msg["source"] == "floor"
                    and who(msg) == MODERATOR):
                first_a.set()


async def drive(base: str) -> list[dict]:
    """Sets the moderator as the demo begins and the banker once the moderator's words
    are committed, through the control socket; returns the feed until the run ends."""
    seen: list[dict] = []
    ready, first_a = asyncio.Event(), asyncio.Event()
    watcher = asyncio.create_task(watch(base, seen, ready, first_a))
    await asyncio.wait_for(ready.wait(), 30)
    async with connect(base.replace("http://", "ws://") + "/control",
                       additional_headers={"Authorization": f"Bearer {TOKEN}"}) as control:
        assert json.loads(await control.recv())["type"] == "welcome"
        await set_speaker(control, 0)  # the moderator, as the demo begins
        await asyncio.wait_for(first_a.wait(), WAIT_S)
        await set_speaker(control, 1)  # the banker, from the next utterance on
    await asyncio.wait_for(watcher, WAIT_S)  # the feed closes when the run ends
    return seen


def test_speakers_set_from_the_console_reach_both_tracks_the_journal_and_exports(
        tmp_path, model_dir):
    programme = tmp_path / "programme.csv"
    programme.write_text(CSV, encoding="utf-8")
    sessions = tmp_path / "sessions"
    log = tmp_path / "stderr.txt"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "captioner", "run", "--config",
             str(REPO / "configs" / "cop_side_event.toml"), "--programme", str(programme),
             "--input", str(DEMO_RECORDING), "--speed", "1", "--exit-at-end", "--port", "0",
             "--host", "127.0.0.1", "--sessions", str(sessions), "--title", "speakers"],
            cwd=REPO, env={**os.environ, "CAPTIONER_OPERATOR_TOKEN": TOKEN},
            stdout=subprocess.DEVNULL, stderr=err)
    try:
        seen = asyncio.run(drive(announced_base(log, proc)))
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)

    (session,) = sessions.iterdir()
    journal = [json.loads(x) for x in (session / "journal.jsonl").read_text().splitlines()]
    changes = [m for m in journal if m.get("state") == "speaker_set"]
    assert [(m["name"], m["role"], m["language"]) for m in changes] == [
        (*MODERATOR, "ru"), (*BANKER, "en")]
    set_at = [m["emitted_at"] for m in changes]

    # Each utterance's first caption (a partial, mostly), as the feed showed it.
    captions = [m for m in seen if m["type"] == "caption"]
    first: dict[str, dict] = {}
    for msg in captions:
        first.setdefault(msg["id"], msg)
    floor_ids = [i for i, m in first.items() if m["source"] == "floor"]

    def expected_floor(utt: str) -> tuple[str, str] | None:
        if first[utt]["replayed"]:  # began before the test watched: as its first caption
            return who(first[utt])
        at = bisect.bisect_right(set_at, first[utt]["emitted_at"])
        return None if at == 0 else (MODERATOR, BANKER)[at - 1]

    speakers = {i: expected_floor(i) for i in floor_ids}
    assert MODERATOR in speakers.values() and BANKER in speakers.values(), speakers
    # The booth renders the floor utterance that began last before its own began.
    starts = sorted((first[i]["start_s"], i) for i in floor_ids)
    for utt, msg in first.items():
        if msg["source"] == "interpretation":
            at = bisect.bisect_right([s for s, _ in starts], msg["start_s"])
            speakers[utt] = speakers[starts[at - 1][1]] if at else None
    for msg in captions:
        key = msg.get("utterance") or msg["id"]  # machine captions: their floor utterance
        assert who(msg) == speakers[key], msg

    # The journal's committed captions say the same, on both tracks.
    committed = [m for m in journal if m.get("type") == "caption"]
    for msg in committed:
        assert who(msg) == speakers[msg.get("utterance") or msg["id"]], msg
    for lang in ("ru", "en"):
        named = {who(m) for m in committed if m["lang"] == lang} - {None}
        assert named, f"no {lang} caption carries a speaker"
    assert {who(m) for m in committed if m["source"] == "interpretation"} - {None}

    # The exports name them at the changes.
    done = subprocess.run([sys.executable, "-m", "captioner", "export", str(session),
                           "--format", "vtt,docx"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    vtt = "".join(p.read_text(encoding="utf-8") for p in session.glob("export/*.vtt"))
    import docx

    document = docx.Document(io.BytesIO(next(session.glob("export/*.docx")).read_bytes()))
    assert "Opening" in " ".join(p.text for p in document.paragraphs)  # the programme
    bold = [run.text for row in document.tables[0].rows for cell in row.cells
            for para in cell.paragraphs for run in para.runs if run.bold]
    for name, _ in {s for s in speakers.values() if s is not None}:
        assert f"<v {name}>" in vtt
        assert name in bold
