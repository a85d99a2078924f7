"""A viewer's resume on an edge: from memory, else from its own bus subscription, joined
to the shared fan-out with no caption missing or twice. The in-process bus stands in for
the room's stream here (tests/delivery/test_edge.py runs the real one)."""

from __future__ import annotations

import asyncio
import json

import pytest

from captioner.bus.local import LocalBus
from captioner.delivery.broadcast import Broadcaster, CatchUp
from captioner.delivery.resume import Resume, from_memory, resume_point
from captioner.delivery.wire import caption_to_dict
from captioner.events import Caption, Status

T0 = 1_746_075_600_000_000_000


def cap(seq: int, lang: str = "en") -> Caption:
    return Caption(id=f"c{seq}", final=True, lang=lang, text=f"caption {seq}", start_s=seq,
                   end_s=seq + 1.0, emitted_ns=T0 + seq, seq=seq)


def partial(n: int) -> Caption:
    return Caption(id=f"c{n}", final=False, lang="en", text=f"capt {n}", start_s=n,
                   end_s=n + 0.5, emitted_ns=T0 + n, revision=1)


class Room:
    """A room's stream (an in-process bus) and an edge's fan-out of it, subscribed from 0."""

    def __init__(self, history_per_track: int = 4) -> None:
        self.bus = LocalBus("room-a")
        self.broadcaster = Broadcaster(history_per_track=history_per_track, session="s1")
        self.resumes: set[Resume] = set()
        self.bus.subscribe(self._shared, since_seq=0)

    def _shared(self, published) -> None:
        self.broadcaster.publish(published.event)
        if published.seq is not None:
            for resume in tuple(self.resumes):
                resume.try_join()

    def resume(self, since: int, **kwargs) -> Resume:
        resume = Resume(self.bus, self.broadcaster, since, "s1",
                        on_join=self.resumes.discard, **kwargs)
        if not resume.joined:
            self.resumes.add(resume)
        return resume


class Socket:
    """What a viewer's connection was sent."""

    state = None  # not open: the fan-out's write-now path stays off

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.changed = asyncio.Event()

    async def send(self, data: bytes, text: bool = True) -> None:
        self.sent.append(json.loads(data))
        self.changed.set()

    @property
    def seqs(self) -> list[int]:
        return [m["seq"] for m in self.sent if m["type"] == "caption" and m["final"]]

    async def wait_seq(self, seq: int) -> None:
        async with asyncio.timeout(10):
            while not self.seqs or self.seqs[-1] < seq:
                self.changed.clear()
                await self.changed.wait()


def test_memory_holds_what_its_rings_never_let_go():
    c = CatchUp(history_per_track=2)
    assert c.holds_after(0)
    for seq, lang in ((1, "ru"), (2, "en"), (3, "en"), (4, "en")):
        c.add(caption_to_dict(cap(seq, lang)))
    # The ru ring still holds 1, so first_seq says 1; but en let go of 2.
    assert c.first_seq() == 1
    assert not c.holds_after(1) and c.holds_after(2) and c.holds_after(4)


def test_from_memory_needs_the_captions_after_since_and_since_itself():
    b = Broadcaster(history_per_track=2, session="s1")
    assert from_memory(b, None) and from_memory(b, 0) and not from_memory(b, 1)
    for seq in range(1, 6):
        b.publish(cap(seq))
    assert not from_memory(b, 2) and from_memory(b, 3) and from_memory(b, 5)
    assert not from_memory(b, 6)  # ahead of what this edge has read
    assert resume_point(b, 3, "s1") == 3 and resume_point(b, 3, None) == 3
    assert resume_point(b, 3, "other") is None


async def test_a_viewer_behind_memory_catches_up_then_joins_the_fan_out():
    room = Room(history_per_track=4)
    for seq in range(1, 21):
        room.bus.publish(cap(seq))
    room.bus.publish(Status("paused", T0))
    resume = room.resume(3)
    # The in-process bus hands over its history at once: 4..16 from the stream, and
    # there the memory (17..20, four a track) takes over.
    assert resume.joined and not room.resumes and resume.last_seq == 16
    ws = Socket()
    sender = asyncio.create_task(resume.send(ws))
    await ws.wait_seq(20)
    room.bus.publish(cap(21))
    await ws.wait_seq(21)
    assert ws.seqs == list(range(4, 22))
    assert [m["type"] for m in ws.sent].count("hello") == 1
    hello = ws.sent[0]
    assert hello["since"] == 3 and hello["gap"] is False and hello["session"] == "s1"
    assert [m["state"] for m in ws.sent if m["type"] == "status"] == ["paused"]
    assert room.broadcaster.viewer_count == 1
    sender.cancel()
    resume.close()
    assert room.broadcaster.viewer_count == 0


async def test_a_viewer_ahead_of_the_edge_waits_for_the_fan_out_to_reach_it():
    room = Room(history_per_track=50)
    for seq in range(1, 6):
        room.bus.publish(cap(seq))
    # The viewer saw up to 8 elsewhere; this edge's stream has 5 so far.
    resume = room.resume(8)
    ws = Socket()
    sender = asyncio.create_task(resume.send(ws))
    assert not resume.joined
    for seq in range(6, 9):
        room.bus.publish(cap(seq))
    assert resume.joined  # at 8 the fan-out has everything the viewer lacks
    room.bus.publish(partial(9))
    room.bus.publish(cap(9))
    await ws.wait_seq(9)
    assert ws.seqs == [9]
    sender.cancel()
    resume.close()


def test_a_resume_that_cannot_keep_up_is_cut_off():
    room = Room(history_per_track=2)
    resume = room.resume(0, queue_size=4)
    assert not resume.joined  # memory is empty and the viewer has nothing: it reads
    room.bus.publish(cap(1))
    assert resume.joined  # the fan-out took 1: memory serves the viewer from 0
    resume.close()
    behind = Room(history_per_track=2)
    for seq in range(1, 10):
        behind.bus.publish(cap(seq))
    cut = behind.resume(0, queue_size=4)
    assert cut.cut_off.is_set() and not cut.joined
    cut.close()


def test_queue_size_must_leave_room_to_join():
    room = Room()
    with pytest.raises(ValueError):
        room.resume(0, queue_size=2)
