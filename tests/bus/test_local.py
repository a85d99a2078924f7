"""The in-process caption bus: order, catch-up, de-duplication, held captions, commands."""

from __future__ import annotations

import time

from captioner.bus.local import LocalBus
from captioner.bus.messages import Ack, Command, Published, RoomFigures
from captioner.events import Caption, Status


def cap(seq: int | None, text: str = "", *, final: bool = True, id: str = "u") -> Caption:
    return Caption(id=f"{id}{seq}", final=final, lang="en", text=text or f"caption {seq}",
                   start_s=0.0, end_s=1.0, emitted_ns=time.time_ns(), seq=seq)


def status(state: str) -> Status:
    return Status(state, time.time_ns())


def texts(got: list[Published]) -> list[str]:
    return [p.event.text if isinstance(p.event, Caption) else p.event.state for p in got]


def test_subscribers_get_every_event_in_publish_order():
    bus = LocalBus("hall-a")
    first, second = [], []
    bus.subscribe(first.append)
    bus.subscribe(second.append)
    bus.publish(status("listening"))
    bus.publish(cap(None, "partial", final=False))
    bus.publish(cap(1))
    assert texts(first) == texts(second) == ["listening", "partial", "caption 1"]
    assert {p.room for p in first} == {"hall-a"}
    assert [p.message_id for p in first] == [None, None, "hall-a:1"]


def test_catch_up_from_a_sequence_replays_only_the_captions_after_it():
    bus = LocalBus()
    for seq in (1, 2, 3):
        bus.publish(cap(seq))
    bus.publish(status("paused"))  # statuses are live only
    got = []
    bus.subscribe(got.append, since_seq=1)
    bus.publish(cap(4))
    assert texts(got) == ["caption 2", "caption 3", "caption 4"]


def test_a_subscriber_from_now_on_gets_nothing_of_the_past():
    bus = LocalBus()
    bus.publish(cap(1))
    got = []
    bus.subscribe(got.append)
    bus.publish(cap(2))
    assert texts(got) == ["caption 2"]


def test_a_caption_delivered_twice_reaches_each_handler_once():
    bus = LocalBus()
    got = []
    bus.subscribe(got.append, since_seq=0)
    for seq in (1, 2, 2, 1, 3):  # a republish after a reconnect
        bus.publish(cap(seq))
    assert texts(got) == ["caption 1", "caption 2", "caption 3"]


def test_retained_captions_of_a_resumed_session_come_first_from_zero():
    bus = LocalBus(retained=[cap(1, "before the restart"), cap(2, "also before")])
    got = []
    bus.subscribe(got.append, since_seq=0)
    bus.publish(cap(3, "after"))
    assert texts(got) == ["before the restart", "also before", "after"]


def test_held_captions_reach_only_subscribers_that_asked_and_are_never_replayed():
    bus = LocalBus()
    screens, console = [], []
    bus.subscribe(screens.append, since_seq=0)
    bus.subscribe(console.append, held=True)
    bus.publish(cap(1, "held back"), held=True)
    bus.publish(cap(2, "shown"))
    assert texts(screens) == ["shown"]
    assert texts(console) == ["held back", "shown"]
    late = []
    bus.subscribe(late.append, since_seq=0)
    assert texts(late) == ["shown"]


def test_a_failing_subscriber_does_not_stop_the_others(caplog):
    bus = LocalBus()
    got = []

    def broken(published: Published) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    bus.subscribe(got.append)
    bus.publish(cap(1))
    assert texts(got) == ["caption 1"]
    assert "bus subscriber" in caplog.text


def test_an_event_published_by_a_subscriber_waits_for_the_one_being_delivered():
    bus = LocalBus()
    first, second = [], []

    def reacting(published: Published) -> None:
        first.append(published)
        if published.seq == 1:
            bus.publish(status("note"))

    bus.subscribe(reacting)
    bus.subscribe(second.append)
    bus.publish(cap(1))
    assert texts(first) == texts(second) == ["caption 1", "note"]


def test_a_closed_subscription_gets_nothing_more():
    bus = LocalBus()
    got = []
    subscription = bus.subscribe(got.append)
    bus.publish(cap(1))
    subscription.close()
    subscription.close()  # idempotent
    bus.publish(cap(2))
    assert texts(got) == ["caption 1"]


def test_figures_latest_wins_and_reach_their_subscribers():
    bus = LocalBus()
    assert bus.figures is None
    seen = []
    bus.subscribe_figures(seen.append)
    bus.publish_figures(RoomFigures(at_ns=1, committed=3))
    bus.publish_figures(RoomFigures(at_ns=2, committed=4))
    assert bus.figures.committed == 4
    assert [f.committed for f in seen] == [3, 4]


async def test_commands_reach_the_room_and_come_back_acknowledged():
    bus = LocalBus()
    refused = await bus.command(Command("pause", id=7))
    assert not refused.ok and refused.id == 7 and "does not take commands" in refused.error

    async def room(command: Command) -> Ack:
        return Ack(command.id, command.name, changed=command.name == "pause")

    bus.serve_commands(room)
    ack = await bus.command(Command("pause", id="p"))
    assert ack.ok and (ack.id, ack.cmd, ack.changed) == ("p", "pause", True)
