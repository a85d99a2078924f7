"""Rooms without audio for the archive's tests: scripted captions and statuses, journaled
and published as a room does (journal, then its local bus, then the JetStream bus), and
what an archived journal of them holds."""

from __future__ import annotations

from pathlib import Path

from captioner.events import Caption, Status
from captioner.record.journal import JOURNAL_NAME, is_journaled
from captioner.record.journal_read import read_journal
from captioner.record.replay import events_after
from tests import edgetools

WAIT_S = edgetools.WAIT_S
T0_NS = 1_746_075_600_000_000_000


def caption(room: str, seq: int) -> Caption:
    lang = "en" if seq % 3 else "ru"
    text = f"{room} caption {seq}" if lang == "en" else f"{room} реплика {seq}"
    return Caption(id=f"floor-{seq}", final=True, lang=lang, text=text, start_s=seq * 2.0,
                   end_s=seq * 2.0 + 1.5, emitted_ns=T0_NS + seq * 10**9, seq=seq)


def partial(seq: int) -> Caption:
    return Caption(id=f"floor-{seq}", final=False, lang="en", text=f"capt {seq}",
                   start_s=seq * 2.0, end_s=seq * 2.0 + 1.0,
                   emitted_ns=T0_NS + seq * 10**9 - 5, revision=1)


def status(state: str, at: int, **detail) -> Status:
    return Status(state, T0_NS + at * 10**9 + 7, "floor" if state.startswith("input") else None,
                  detail)


def script(room: str, first: int, last: int) -> list[Caption | Status]:
    """What a room says for captions ``first``..``last``: a partial before each caption,
    an input lost and restored before every fifth, levels (live only) before every
    fourth. It ends with caption ``last``: once that is archived, all of it is."""
    said: list[Caption | Status] = []
    for seq in range(first, last + 1):
        if seq % 5 == 0:
            said += [status("input_lost", seq, at_s=seq * 2.0 - 1),
                     status("input_restored", seq, at_s=seq * 2.0 - 0.5, gap_s=0.5)]
        if seq % 4 == 0:
            said.append(status("levels", seq, rms=[0.1]))
        said += [partial(seq), caption(room, seq)]
    return said


def new_session(n: int, title: str) -> Status:
    """The status a room publishes when its operator starts a new session."""
    return status("session_started", n, name=f"2025-05-01_12000{n % 10}_x", path="/x",
                  title=title, by="operator")


def journaled(events: list[Caption | Status]) -> list[Caption | Status]:
    return [e for e in events if is_journaled(e)]


class ScriptedRoom(edgetools.ScriptedRoom):
    """The edge tests' scripted room (its own bus, a real journal, a publisher to the
    JetStream bus), keeping every event it said, statuses too."""

    def __init__(self, url: str, folder: Path, room: str, **login: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__(url, folder, room, **login)
        self.events: list[Caption | Status] = []

    def say(self, *events: Caption | Status) -> None:
        self.events.extend(events)
        super().say(*events)

    async def said_all(self) -> None:
        """Waits until the bus acknowledged the last caption said."""
        await self.wait_acked(max(e.seq for e in self.events
                                  if isinstance(e, Caption) and e.seq is not None))


def archived(folder: Path) -> list[tuple[str, object]]:
    """An archived journal, undamaged, as (kind, seq or state) pairs in file order."""
    path = folder / JOURNAL_NAME
    read = read_journal(path)
    assert read.bad_lines == [] and not read.torn_tail
    return pairs(events_after(path.read_bytes().split(b"\n"), 0))


def pairs(events) -> list[tuple[str, object]]:
    return [("caption", e.seq) if isinstance(e, Caption) else ("status", e.state)
            for e in events]


def expected(events: list[Caption | Status]) -> list[tuple[str, object]]:
    """What an archived journal of ``events`` holds."""
    return pairs(journaled(events))
