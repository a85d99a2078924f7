"""A room's durable consumer over a real nats-server, where a restart can go wrong: a run
that wrote messages and died before acknowledging them, a consumer removed by hand."""

from __future__ import annotations

import asyncio
import logging
import re

import nats
import pytest

from captioner.archive.archiver import Archiver
from captioner.archive.folders import RoomRecord, StreamId
from captioner.bus.codec import decode_published
from captioner.bus.connection import BusLink, BusOptions
from captioner.bus.names import stream_name
from tests import nats_server as broker
from tests.archive.scripted import WAIT_S, ScriptedRoom, archived, expected, script

pytestmark = pytest.mark.integration

nats_server = broker.nats_server

ROOM = "pavilion-a"


async def archive_until(server: broker.NatsServer, root, seq: int) -> Archiver:
    """Runs an archive until caption ``seq`` of the room is archived, then closes it."""
    link = BusLink(BusOptions(server.url), retry_s=0.05, max_retry_s=0.5)
    archive = Archiver(link, root, poll_s=0.05, report=lambda line: None, fetch_s=0.5,
                       retry_s=0.05)
    await archive.start()
    async with asyncio.timeout(WAIT_S):
        await archive.wait_archived(ROOM, seq)
    await archive.close()
    return archive


async def test_what_a_dead_run_wrote_but_never_acknowledged_is_not_written_again(
        nats_server, tmp_path, caplog):
    root = tmp_path / "archive"
    room = ScriptedRoom(nats_server.url, tmp_path / "rooms", ROOM)
    await room.start()
    room.say(*script(ROOM, 1, 10))
    await room.said_all()
    await archive_until(nats_server, root, 10)

    room.say(*script(ROOM, 11, 20))
    await room.said_all()
    # A run that was given 11-20, wrote half of them and was killed: nothing acknowledged.
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    info = await js.stream_info(stream_name(ROOM))
    subscription = await js.pull_subscribe_bind(durable="archive-main",
                                                stream=stream_name(ROOM))
    given = await subscription.fetch(1000, timeout=5)
    seqs = [m.metadata.sequence.stream for m in given]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    record = RoomRecord.open(root, ROOM, StreamId(stream_name(ROOM), info.created.isoformat()),
                             "archive-main")
    for msg in given[:len(given) // 2]:
        record.write(msg.metadata.sequence.stream, decode_published(msg.data).event)
    assert record.sync()
    record.close()
    await nc.close()

    # The server hands 11-20 out again only after their ack wait: newer ones come first.
    room.say(*script(ROOM, 21, 30))
    await room.said_all()
    with caplog.at_level(logging.INFO, logger="captioner.archive.consumer"):
        await archive_until(nats_server, root, 30)
    await room.close()
    # Read from the stream, ahead of the newer ones: what the test fetched, and what a
    # still open pull request of the dead run may have been given after it.
    read = [int(m[1]) for r in caplog.records
            if (m := re.search(r"(\d+) messages before stream message", r.getMessage()))]
    assert read and read[0] >= len(given)
    (folder,) = (root / ROOM).iterdir()
    assert archived(folder) == expected(room.events)


async def test_a_removed_consumer_starts_again_from_the_folder_without_repeats(
        nats_server, tmp_path):
    root = tmp_path / "archive"
    room = ScriptedRoom(nats_server.url, tmp_path / "rooms", ROOM)
    await room.start()
    room.say(*script(ROOM, 1, 12))
    await room.said_all()
    await archive_until(nats_server, root, 12)

    nc = await nats.connect(nats_server.url)
    await nc.jetstream().delete_consumer(stream_name(ROOM), "archive-main")
    await nc.close()
    room.say(*script(ROOM, 13, 20))
    await room.said_all()
    await archive_until(nats_server, root, 20)
    await room.close()
    (folder,) = (root / ROOM).iterdir()
    assert archived(folder) == expected(room.events)
