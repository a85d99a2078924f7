"""The archive over a real nats-server: rooms found as they appear, each room's record
complete, in order, once; restarts, a killed archive, a full disk, bad credentials.

Every wait is on an event (a caption archived, a line reported), bounded by a generous
timeout that only a broken build reaches.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import nats
import nats.errors
import pytest

from captioner.archive.archiver import Archiver
from captioner.bus.connection import BusLink, BusOptions
from captioner.bus.names import stream_name
from captioner.record.session import SessionDir
from tests import nats_server as broker
from tests.archive.scripted import (
    WAIT_S,
    ScriptedRoom,
    archived,
    expected,
    new_session,
    script,
    status,
)
from tests.conftest import run_cli
from tests.venuetools import Child

pytestmark = pytest.mark.integration

nats_server = broker.nats_server
nats_factory = broker.nats_factory


class Lines:
    """The organiser's lines of an in-process archive, and a way to wait for one."""

    def __init__(self) -> None:
        self.got: list[str] = []
        self.changed = asyncio.Event()

    def __call__(self, line: str) -> None:
        self.got.append(line)
        self.changed.set()

    async def wait_for(self, *words: str) -> str:
        async with asyncio.timeout(WAIT_S):
            while True:
                for line in self.got:
                    if all(word in line for word in words):
                        return line
                self.changed.clear()
                await self.changed.wait()


def archiver(server: broker.NatsServer, root: Path, lines: Lines, **kwargs) -> Archiver:
    link = BusLink(BusOptions(server.url, **kwargs.pop("login", {})), retry_s=0.05,
                   max_retry_s=0.5)
    return Archiver(link, root, poll_s=0.05, report=lines, fetch_s=0.5, retry_s=0.05,
                    **kwargs)


async def until_archived(archive: Archiver, room: str, seq: int) -> None:
    async with asyncio.timeout(WAIT_S):
        await archive.wait_archived(room, seq)


def folders(root: Path, room: str) -> list[Path]:
    """A room's archived session folders, oldest first."""
    found = [SessionDir.open(p) for p in (root / room).iterdir() if p.is_dir()]
    return [s.path for s in sorted(found, key=lambda s: s.meta["archive"]["first_stream_seq"])]


async def test_two_rooms_are_archived_once_in_order_and_split_at_a_new_session(
        nats_server, tmp_path):
    root = tmp_path / "archive"
    a = ScriptedRoom(nats_server.url, tmp_path / "rooms", "pavilion-a")
    await a.start()
    first_a = script("pavilion-a", 1, 10)
    a.say(*first_a)
    await a.said_all()
    lines = Lines()
    archive = archiver(nats_server, root, lines)
    await archive.start()
    await until_archived(archive, "pavilion-a", 10)
    b = ScriptedRoom(nats_server.url, tmp_path / "rooms", "pavilion-b")  # a room that
    await b.start()  # appears while the archive runs
    b.say(*script("pavilion-b", 1, 12))
    second_a = [new_session(11, "Water and climate"), *script("pavilion-a", 11, 20),
                status("stopped", 21), status("session_resumed", 22, name="x"),
                *script("pavilion-a", 21, 22)]
    a.say(*second_a)
    b.say(*script("pavilion-b", 13, 15))
    await until_archived(archive, "pavilion-a", 22)
    await until_archived(archive, "pavilion-b", 15)
    await lines.wait_for("pavilion-a", "new session folder")
    progress = archive.progress()  # what the organiser reads every minute
    assert progress[0].startswith("room pavilion-a: 22 captions archived (up to #22) in ")
    assert progress[1].startswith("room pavilion-b: 15 captions archived (up to #15) in ")
    assert archive.progress() == []  # nothing new since
    await archive.close()
    for room in (a, b):
        await room.close()

    a1, a2 = folders(root, "pavilion-a")
    assert archived(a1) == expected(first_a)
    assert archived(a2) == expected(second_a)
    (b1,) = folders(root, "pavilion-b")
    assert archived(b1) == expected(b.events)
    assert "water-and-climate" in a2.name
    meta = SessionDir.open(a2).meta
    assert meta["title"] == "Water and climate"
    assert meta["stopped_at"] is None and len(meta["runs"]) == 2  # stopped, then resumed
    assert meta["archive"]["room_session"] == "2025-05-01_120001_x"
    assert SessionDir.open(a1).meta["stopped_at"] is not None  # the room closed it
    assert any("pavilion-b joined" in line for line in lines.got)

    done = run_cli("export", str(a2), "--format", "srt", "--lang", "en,ru")
    assert done.returncode == 0, done.stderr
    srt = (a2 / "export" / f"{a2.name}.en.srt").read_text("utf-8")
    assert "pavilion-a caption 11" in srt and "pavilion-a caption 20" in srt
    assert "pavilion-a caption 10" not in srt
    ru = (a2 / "export" / f"{a2.name}.ru.srt").read_text("utf-8")
    assert "pavilion-a реплика 12" in ru


# -- a full disk ----------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB file system (needs root and CAP_SYS_ADMIN, else the test is skipped)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount") or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
            capture_output=True, check=False).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as fh:
        with contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 512)
    return filler


async def test_a_full_disk_is_said_and_nothing_is_acknowledged_until_it_has_room(
        nats_server, tiny_disk, tmp_path):
    room = ScriptedRoom(nats_server.url, tmp_path / "rooms", "pavilion-a")
    await room.start()
    room.say(*script("pavilion-a", 1, 5))
    lines = Lines()
    archive = archiver(nats_server, tiny_disk, lines)
    await archive.start()
    await until_archived(archive, "pavilion-a", 5)
    consumer = archive.rooms["pavilion-a"]

    filler = fill(tiny_disk)
    # More than the journal's last page still takes, then a folder that cannot be made.
    room.say(*script("pavilion-a", 6, 40), new_session(40, "After the break"),
             *script("pavilion-a", 41, 45))
    await room.said_all()
    line = await lines.wait_for("pavilion-a", "cannot write the archive")
    assert "disk full" in line and "nothing is acknowledged" in line
    assert consumer.acked_seq < 40 and consumer.problem is not None
    nc = await nats.connect(nats_server.url)
    held = await nc.jetstream().consumer_info(stream_name("pavilion-a"), "archive-main")
    assert held.num_ack_pending > 0  # the server still holds them for the archive
    await nc.close()

    filler.unlink()  # the organiser frees some space
    await until_archived(archive, "pavilion-a", 45)
    await lines.wait_for("pavilion-a", "archiving again")
    assert consumer.problem is None
    await archive.close()
    await room.close()
    first, second = folders(tiny_disk, "pavilion-a")
    said = room.events
    cut = said.index(new_session(40, "After the break"))
    assert archived(first) == expected(said[:cut])
    assert archived(second) == expected(said[cut:])


# -- the command ------------------------------------------------------------------------------


async def archived_up_to(process: Child, room: str, seq: int) -> None:
    """Waits for the (debug) line of ``captioner archive`` that says caption ``seq`` of
    ``room`` is acknowledged."""
    mark = f"room {room}: archived up to caption "
    await process.until(lambda: any(
        mark in line and int(line.split(mark)[1].split()[0]) >= seq
        for line in process.lines), f"{mark}{seq}", timeout_s=WAIT_S)


@pytest.fixture
def archive_process():
    """Builds ``captioner archive`` subprocesses; any still running are killed after."""
    made: list[Child] = []

    def build(server: broker.NatsServer, root: Path) -> Child:
        made.append(Child("captioner archive", "archive", "--bus", server.url, "--sessions",
                          str(root), "--poll-s", "0.1", "-vv"))
        return made[-1]

    yield build
    for process in made:
        if process.proc is not None and process.proc.returncode is None:
            process.proc.kill()


async def test_an_archive_killed_mid_session_goes_on_where_it_stopped(nats_server, tmp_path,
                                                                     archive_process):
    root = tmp_path / "archive"
    rooms = [ScriptedRoom(nats_server.url, tmp_path / "rooms", name)
             for name in ("pavilion-a", "pavilion-b")]
    for room in rooms:
        await room.start()
        room.say(*script(room.room, 1, 10))
    first = await archive_process(nats_server, root).start()
    for room in rooms:
        await archived_up_to(first, room.room, 10)
    for room in rooms:
        room.say(*script(room.room, 11, 25))
    await archived_up_to(first, "pavilion-a", 12)
    assert await first.stop(signal.SIGKILL, WAIT_S) == -signal.SIGKILL  # while the rooms talk on
    a, b = rooms
    a.say(new_session(26, "Afternoon"), *script("pavilion-a", 26, 40))
    b.say(*script("pavilion-b", 26, 40))

    second = await archive_process(nats_server, root).start()
    for room in rooms:
        await room.said_all()
        await archived_up_to(second, room.room, 40)
    assert await second.stop(signal.SIGTERM, WAIT_S) == 0
    assert second.count("export with: captioner export")
    assert not first.count("Traceback") and not second.count("Traceback")
    for room in rooms:
        await room.close()

    cut = a.events.index(new_session(26, "Afternoon"))
    a1, a2 = folders(root, "pavilion-a")
    assert archived(a1) == expected(a.events[:cut])
    assert archived(a2) == expected(a.events[cut:])
    (b1,) = folders(root, "pavilion-b")
    assert archived(b1) == expected(b.events)
    done = run_cli("export", str(b1), "--format", "srt", "--lang", "en")
    assert done.returncode == 0, done.stderr
    srt = (b1 / "export" / f"{b1.name}.en.srt").read_text("utf-8")
    assert all(f"pavilion-b caption {n}" in srt for n in range(1, 41) if n % 3)


def test_bad_credentials_are_one_line_without_the_password(nats_factory, tmp_path):
    server = nats_factory(config='authorization { user: alice, password: "s3cret-pass" }\n')
    server.start()
    url = f"nats://alice:wrong-pass@127.0.0.1:{server.port}"
    done = run_cli("archive", "--bus", url, "--sessions", str(tmp_path / "archive"),
                   timeout=WAIT_S, env={"PYTHONASYNCIODEBUG": ""})  # as a user runs it
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if not line.startswith("hint:")]
    assert errors == [f"captioner: error: the bus at nats://alice:***@127.0.0.1:{server.port} "
                      "refused our credentials (authorization violation)"]
    assert "wrong-pass" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "archive").exists()


async def test_a_bus_that_is_not_up_yet_is_waited_for(nats_factory, tmp_path,
                                                      archive_process):
    server = nats_factory()  # not started
    process = await archive_process(server, tmp_path / "archive").start()
    await process.wait_for("connection refused.*trying again", timeout_s=WAIT_S)
    server.start()
    await process.wait_for(f"connected to the bus at {re.escape(server.url)}",
                           timeout_s=WAIT_S)
    assert await process.stop(signal.SIGTERM, WAIT_S) == 0


async def test_the_documented_archive_account_can_archive_and_nothing_more(
        nats_factory, tmp_path):
    from tests.bus.test_jetstream import documented_accounts

    server = nats_factory(config=documented_accounts(), env={
        "PAVILION_A_PASSWORD": "pw-a", "PAVILION_B_PASSWORD": "pw-b",
        "EDGE_PASSWORD": "pw-edge", "ARCHIVE_PASSWORD": "pw-archive"})
    server.start()
    room = ScriptedRoom(server.url, tmp_path / "rooms", "pavilion-a", user="pavilion-a",
                        password="pw-a")
    await room.start()
    room.say(*script("pavilion-a", 1, 8))
    await room.said_all()
    root = tmp_path / "archive"
    lines = Lines()
    archive = archiver(server, root, lines,
                       login={"user": "archive", "password": "pw-archive", "timeout_s": 2})
    await archive.start()
    await until_archived(archive, "pavilion-a", 8)
    session = await archive.link.session()
    with pytest.raises(nats.errors.TimeoutError):  # it publishes no caption
        await session.js.publish("captioner.room.pavilion-a.events.caption", b"{}", timeout=1)
    with pytest.raises(nats.errors.TimeoutError):  # nor removes a room
        await session.js.delete_stream(stream_name("pavilion-a"))
    await archive.close()
    await room.close()
    (folder,) = folders(root, "pavilion-a")
    assert archived(folder) == expected(room.events)
