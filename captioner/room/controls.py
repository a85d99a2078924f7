"""The operator's settings of a live room, and how each command changes them. Pure.

:class:`Controls` is read by the pipeline while it runs; :func:`apply` is what the
room does with a validated :class:`~captioner.bus.messages.Command` that reached it
over the bus. Nothing here does I/O.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from captioner.bus.messages import Command
from captioner.errors import CommandError
from captioner.events import Status
from captioner.languages import AUTO


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
    """

    forced_language: str | None = None
    paused: bool = False
    disabled_inputs: set[str] = field(default_factory=set)

    def input_enabled(self, input_id: str) -> bool:
        """Whether an input's audio is recognised."""
        return input_id not in self.disabled_inputs



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


def apply(command: Command, controls: Controls, *, holding_message: str = "",
          now_ns: int | None = None) -> Outcome:
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
    raise CommandError(f"unknown command {name!r}")  # parse_command never lets one by
