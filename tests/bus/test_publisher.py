"""The room side of the bus, without a broker: the room never waits for it."""

from __future__ import annotations

import asyncio

from bench.nats_server import free_port
from captioner.bus.connection import BusLink, BusOptions
from captioner.bus.local import LocalBus
from captioner.bus.publisher import PublisherState, RoomPublisher, same_caption
from captioner.events import Caption, Status

T0_NS = 1_746_075_600_000_000_000


def caption(seq: int, text: str = "x", emitted_ns: int = T0_NS) -> Caption:
    return Caption(id=f"floor-{seq}", final=True, lang="en", text=text, start_s=0.0,
                   end_s=1.0, emitted_ns=emitted_ns, seq=seq)


def test_the_same_caption_across_the_journals_rounding():
    assert same_caption(caption(3), caption(3, emitted_ns=T0_NS + 400))
    assert not same_caption(caption(3), caption(3, text="y"))
    assert not same_caption(caption(3), caption(4))
    assert not same_caption(caption(3), caption(3, emitted_ns=T0_NS + 5_000_000))


async def test_a_room_without_its_bus_goes_on_and_says_why():
    bus = LocalBus("pavilion-a")
    states: list[PublisherState] = []
    down = asyncio.Event()

    def on_state(state: PublisherState) -> None:
        states.append(state)
        if state.state == "down":
            down.set()

    link = BusLink(BusOptions(f"nats://127.0.0.1:{free_port()}", timeout_s=2), retry_s=0.05)
    publisher = RoomPublisher(link, bus, replay=lambda after: [], on_state=on_state,
                              queue_size=64)
    await publisher.start()
    received: list = []
    bus.subscribe(received.append)
    for seq in range(1, 1001):  # the room's own audience still gets every event at once
        bus.publish(caption(seq))
        bus.publish(Status("levels", T0_NS + seq))
    assert len(received) == 2000
    assert publisher.dropped > 0 and publisher.queued <= 64
    await asyncio.wait_for(down.wait(), 60)
    assert states[-1].error.kind == "refused" and states[-1].acked_seq is None
    assert "connection refused" in states[-1].reason
    await publisher.close()
    await link.close()
