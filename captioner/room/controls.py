"""The operator's settings of a live room, and how each command changes them. Pure.

:class:`Controls` is read by the pipeline while it runs; :func:`apply` is what the
room does with a validated :class:`~captioner.bus.messages.Command` that reached it
over the bus. Nothing here does I/O.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import time as time_of_day

from captioner.bus.messages import Command
from captioner.errors import CommandError
from captioner.events import Speaker, Status
from captioner.languages import AUTO
from captioner.programme import (
    Programme,
    ProgrammeSpeaker,
    scheduled_item,
    speaker_from_data,
    speaker_to_data,
)
from captioner.states import PROGRAMME_ITEM, SPEAKER_SET

log = logging.getLogger(__name__)


@dataclass
class Controls:
    """Operator settings that take effect while running.

    Attributes:
        forced_language: Language every input is recognised in; None detects it.
        paused: The operator paused the screens. Recognition and the journal go on;
            the operator console's screen gate holds captions back from the viewers
            (see :class:`captioner.room.gate.ScreenGate`).
        disabled_inputs: Inputs switched off by the operator: their audio is replaced
            by silence before recognition, so nothing they carry is captioned.
        speaker: Who speaks on the floor: captions of an utterance that begins from now
            on carry the name, and the declared language is a hint to language
            identification. None: nobody set.
        item: The programme item on now (an index), or None.
        auto_advance: The item follows the programme's schedule.
    """

    forced_language: str | None = None
    paused: bool = False
    disabled_inputs: set[str] = field(default_factory=set)
    speaker: ProgrammeSpeaker | None = None
    item: int | None = None
    auto_advance: bool = False

    def input_enabled(self, input_id: str) -> bool:
        """Whether an input's audio is recognised."""
        return input_id not in self.disabled_inputs

    def speaker_for(self, input_id: str) -> Speaker | None:
        """The speaker a floor input's new utterance carries: the set speaker, unless
        they were declared on another input."""
        speaker = self.speaker
        if speaker is None or (speaker.input and speaker.input != input_id):
            return None
        return speaker.speaker

    def language_hint(self, input_id: str) -> str | None:
        """The set speaker's declared language, for a floor input they speak on."""
        if self.speaker_for(input_id) is None:
            return None
        return self.speaker.language or None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command did.

    Attributes:
        events: Statuses to publish, in order (through the pipeline, so the screens,
            the journal and the console all see them).
        changed: False when the command changed nothing (resume while live...).
        new_session: For ``new_session``: the title to start it with; the adapter does
            the I/O and publishes the statuses that follow.
    """

    events: tuple[Status, ...] = ()
    changed: bool = True
    new_session: str | None = None


def restored(statuses: Iterable[Status], programme: Programme = Programme(),
             forced_language: str | None = None) -> Controls:
    """The controls a continued session (``--session``) starts with: the speaker and
    the programme item its journal last recorded, and whether the item followed the
    schedule, so captions after a restart carry the name they carried before it.
    Pausing, the forced language and switched-off inputs start afresh, as in any run.

    Args:
        statuses: The journal's statuses, in order.
        programme: The room's programme: an item it no longer has is not restored.
        forced_language: The language this run was started with (``--language``).
    """
    controls = Controls(forced_language=forced_language, item=0 if programme.items else None)
    for status in statuses:
        detail = status.detail or {}
        if status.state == SPEAKER_SET:
            try:
                controls.speaker = (None if detail.get("name") is None
                                    else speaker_from_data(detail))
            except (TypeError, KeyError):
                log.warning("journal: a speaker_set status without a speaker was skipped")
        elif status.state == PROGRAMME_ITEM:
            item = detail.get("item")
            if item is None or (isinstance(item, int) and programme.item(item) is not None):
                controls.item = item
            if isinstance(detail.get("auto"), bool):
                controls.auto_advance = detail["auto"]
            elif detail.get("by") == "schedule":
                controls.auto_advance = True  # the schedule moves the item only then
    return controls


def _item_status(programme: Programme, item: int | None, now: int, by: str,
                 **extra) -> Status:
    entry = programme.item(item)
    return Status(PROGRAMME_ITEM, now, detail={
        "item": item, "title": entry.title if entry else "", **extra, "by": by})


def _set_speaker(args, controls: Controls, programme: Programme, now: int) -> Outcome:
    data, item = args.get("speaker"), args.get("item")
    speaker = None if data is None else speaker_from_data(data)
    changed = speaker != controls.speaker
    controls.speaker = speaker
    events = []
    if item is not None and item != controls.item:
        # A speaker of another item chooses that item by hand, as ``item`` does: the
        # schedule, which would move the item back, is no longer followed.
        controls.item, controls.auto_advance = item, False
        events.append(_item_status(programme, item, now, "operator", auto=False))
    detail = speaker_to_data(speaker) if speaker else {"name": None}
    if item is not None:
        detail["item"] = item
    events.append(Status(SPEAKER_SET, now, detail={**detail, "by": "operator"}))
    return Outcome(tuple(events), changed or len(events) > 1)


def _set_item(args, controls: Controls, programme: Programme, now: int) -> Outcome:
    if "auto" in args:
        changed = args["auto"] != controls.auto_advance
        controls.auto_advance = args["auto"]
        return Outcome((_item_status(programme, controls.item, now, "operator",
                                     auto=controls.auto_advance),), changed)
    # The operator's choice of item ends following the schedule, which would undo it.
    changed = args["item"] != controls.item or controls.auto_advance
    controls.item, controls.auto_advance = args["item"], False
    return Outcome((_item_status(programme, controls.item, now, "operator", auto=False),),
                   changed)


def follow_schedule(controls: Controls, programme: Programme, now: time_of_day,
                    now_ns: int | None = None) -> Outcome:
    """Moves the programme item to the one the schedule says is on, when the operator
    asked for that (``auto_advance``); the speaker stays as set.

    Args:
        controls: The room's controls (changed in place).
        programme: The programme.
        now: The venue's local time of day.
        now_ns: Wall-clock time to stamp the status with (now if None).
    """
    due = scheduled_item(programme, now) if controls.auto_advance else None
    if due is None or due == controls.item:
        return Outcome(changed=False)
    controls.item = due
    return Outcome((_item_status(programme, due, time.time_ns() if now_ns is None else now_ns,
                                 "schedule"),))


def apply(command: Command, controls: Controls, *, holding_message: str = "",
          now_ns: int | None = None, programme: Programme = Programme()) -> Outcome:
    """Applies a validated command to the live controls.

    Pausing does not stop recognition: the pipeline keeps transcribing and journaling,
    and the ``paused`` status makes the :class:`ScreenGate` hold captions back from the
    screens until ``resumed``.

    Args:
        command: From :func:`parse_command`.
        controls: The pipeline's controls (changed in place).
        holding_message: What paused screens show when the command gives no message
            (empty: the views' own bilingual "Captions paused").
        now_ns: Wall-clock time to stamp the statuses with (now if None).
        programme: The room's programme (the titles of its items, for the record).

    Returns:
        The statuses to publish and whether anything changed.
    """
    now = time.time_ns() if now_ns is None else now_ns
    name, args = command.name, command.args
    if name == "pause":
        message = holding_message if args.get("default") else args.get("message", "")
        controls.paused = True
        detail = {"message": message} if message else {}
        return Outcome((Status("paused", now, detail={**detail, "by": "operator"}),))
    if name == "resume":
        if not controls.paused:
            return Outcome(changed=False)
        controls.paused = False
        return Outcome((Status("resumed", now, detail={"by": "operator"}),))
    if name == "clear":
        return Outcome((Status("clear", now, detail={"by": "operator"}),))
    if name == "language":
        lang = args["lang"]
        forced = None if lang == AUTO else lang
        changed = forced != controls.forced_language
        controls.forced_language = forced
        return Outcome((Status("language_forced", now, detail={"lang": lang}),), changed)
    if name == "input":
        input_id, enabled = args["input"], args["enabled"]
        changed = (input_id in controls.disabled_inputs) == enabled
        if enabled:
            controls.disabled_inputs.discard(input_id)
        else:
            controls.disabled_inputs.add(input_id)
        state = "input_enabled" if enabled else "input_disabled"
        return Outcome((Status(state, now, input_id=input_id),), changed)
    if name == "message":
        return Outcome((Status("message", now, detail={
            "text": args["text"], "duration_s": args["duration_s"]}),))
    if name == "new_session":
        return Outcome(new_session=args.get("title", ""))
    if name == "speaker":
        return _set_speaker(args, controls, programme, now)
    if name == "item":
        return _set_item(args, controls, programme, now)
    raise CommandError(f"unknown command {name!r}")  # parse_command never lets one by
