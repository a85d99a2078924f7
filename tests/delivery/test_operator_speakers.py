"""Now speaking, through the console's real control socket: the programme and who is
set in the state, the change journaled and on the bus, the next utterance's captions."""

from __future__ import annotations

from websockets.asyncio.client import connect

from captioner.events import Caption, Speaker
from captioner.programme import OTHER_SPEAKER, Programme, ProgrammeItem, ProgrammeSpeaker
from tests.delivery.test_operator import Session, authed, command, recv_json, recv_type
from tests.operator_fakes import caption

PROGRAMME = Programme((
    ProgrammeItem("Opening", "15:00", "15:10",
                  (ProgrammeSpeaker("Dr. Aliya Seitkali", "Moderator", "ru"),)),
    ProgrammeItem("The bank", "15:40", "", (
        ProgrammeSpeaker("Michael Turner", "ADB", "en"), ProgrammeSpeaker("Sarah Lindqvist"))),
))


async def state_where(ws, check) -> dict:
    state = await recv_type(ws, "state")
    while not check(state["programme"]):
        state = await recv_type(ws, "state")
    return state["programme"]


async def test_the_console_sets_the_speaker_and_the_captions_carry_it():
    session = Session(programme=PROGRAMME)
    await session.start()
    try:
        ws = await authed(session)
        async with ws, connect(f"ws://127.0.0.1:{session.port}/ws") as viewer:
            await recv_json(viewer)  # hello
            shown = await state_where(ws, lambda p: p["items"])
            assert [i["title"] for i in shown["items"]] == ["Opening", "The bank"]
            assert shown["item"] == 0 and shown["speaker"] is None
            assert shown["other"] == OTHER_SPEAKER.name and shown["auto"] is False

            ack = await command(ws, "speaker", item=1, speaker=0)
            assert ack["type"] == "ack" and ack["changed"]
            shown = await state_where(ws, lambda p: p["speaker"] is not None)
            assert shown["item"] == 1
            assert shown["speaker"] == {"name": "Michael Turner", "role": "ADB",
                                        "language": "en", "input": ""}
            journaled = [(e.state, e.detail.get("name")) for e in session.journal
                         if e.state in ("speaker_set", "programme_item")]
            assert journaled == [("programme_item", None), ("speaker_set", "Michael Turner")]
            states = [(await recv_json(viewer))["state"] for _ in range(2)]
            assert states == ["programme_item", "speaker_set"]  # on the bus, in order

            session.pipeline.on_worker_event(caption("Thank you.", id="floor-7"))
            msg = await recv_json(viewer)
            assert (msg["id"], msg["speaker"]) == ("floor-7", {"name": "Michael Turner",
                                                               "role": "ADB"})
            assert session.journal[-1].speaker == Speaker("Michael Turner", "ADB")

            error = await command(ws, "speaker", item=1, speaker=5)
            assert error["type"] == "error" and "speaker must be" in error["error"]
            assert session.room.controls.speaker.name == "Michael Turner"  # unchanged
            await command(ws, "speaker", other=True)
            assert session.room.controls.speaker == OTHER_SPEAKER
            await command(ws, "item", auto=True)
            shown = await state_where(ws, lambda p: p["auto"])
            assert shown["speaker"]["name"] == OTHER_SPEAKER.name
            last = [e for e in session.journal if not isinstance(e, Caption)][-1]
            assert (last.state, last.detail["auto"]) == ("programme_item", True)
    finally:
        await session.close()
