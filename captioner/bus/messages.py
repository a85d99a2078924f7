"""What travels on the caption bus: events, commands, acknowledgements, figures.

Every type here is plain, frozen data, so that a bus over a network can carry it as
JSON and hand the same objects back (see :mod:`captioner.bus.codec`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from captioner.events import Caption, Status
from captioner.programme import Programme, ProgrammeSpeaker


@dataclass(frozen=True, slots=True)
class Published:
    """One event as a room's bus delivers it.

    Attributes:
        room: The room that published it.
        event: The caption or status, exactly as the room journaled it.
        held: A caption the screen gate held back (the screens are paused): only
            subscribers that asked for held captions get it (the operator console,
            which still shows what is said), and it is never replayed.
    """

    room: str
    event: Caption | Status
    held: bool = False

    @property
    def seq(self) -> int | None:
        """The caption sequence number of a committed caption; None for anything else."""
        event = self.event
        return event.seq if isinstance(event, Caption) and event.final else None

    @property
    def message_id(self) -> str | None:
        """The identity of a committed caption across the venue (room and sequence), by
        which a republished caption is recognised and delivered once; None for partial
        captions and statuses, which are not replayed."""
        seq = self.seq
        return None if seq is None else f"{self.room}:{seq}"


@dataclass(frozen=True, slots=True)
class Command:
    """One validated operator command (see :func:`captioner.delivery.control.parse_command`).

    Attributes:
        name: ``pause``, ``resume``, ``clear``, ``language``, ``input``, ``message``,
            ``new_session``, ``speaker`` or ``item``.
        args: The validated arguments (``message``, ``lang``, ``input``...).
        id: The client's correlation id, echoed in the acknowledgement; None if not given.
    """

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)
    id: str | int | None = None


@dataclass(frozen=True, slots=True)
class Ack:
    """The room's answer to a command.

    Attributes:
        id: The command's correlation id.
        cmd: The command's name.
        changed: False when the command changed nothing (resume while live...).
        session: For ``new_session``: facts about the new session (``name``, ``path``).
        error: Why the command was refused (safe to show the operator); None when it
            was applied. A refused command changed nothing.
    """

    id: str | int | None
    cmd: str
    changed: bool = True
    session: Mapping[str, Any] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class InputFigures:
    """One input's figures in a :class:`RoomFigures`.

    Attributes:
        id: The input id.
        source: Its caption source label (``floor``, ``interpretation``).
        enabled: False while the operator has switched it off.
        passes: Whisper passes run over it.
        dropped_chunks: Audio chunks dropped because recognition fell behind.
        backlog_chunks: Audio chunks waiting for recognition.
        backlog_s: The audio they hold, in seconds.
        asr_seconds: Seconds Whisper spent on it.
    """

    id: str
    source: str = "floor"
    enabled: bool = True
    passes: int = 0
    dropped_chunks: int = 0
    backlog_chunks: int = 0
    backlog_s: float = 0.0
    asr_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class RecordFigures:
    """The session record's state: folder name and path, and whether writes succeed."""

    name: str
    path: str
    healthy: bool = True
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where Whisper runs: device, compute type, CPU threads."""

    device: str | None = None
    compute_type: str | None = None
    threads: int | None = None


@dataclass(frozen=True, slots=True)
class RoomFigures:
    """A snapshot of a room, published a few times a second: all the operator console
    and ``/healthz`` know of the room besides its events.

    Attributes:
        at_ns: When it was taken (wall clock).
        inputs: One entry per input, in the source's order.
        languages: The recognised languages.
        placement: Where Whisper runs.
        forced_language: The operator's forced language; None detects it.
        paused: Whether the screen gate holds captions back.
        held: Committed captions held back while paused.
        committed: Committed captions so far.
        translation_engines: Source language -> translation engine name.
        translation_queue: Sentences waiting for translation.
        translation_dropped: Sentences dropped from the full translation queue.
        recording: The session record, or None when not recording.
        input_pass: Which pass of a looping recording plays; None for live inputs.
        speed: How fast the source plays (1.0: real time; 0: as fast as it can).
        time_offset_s: Added to stream times (a resumed session continues its clock).
        new_session: Whether the room can start a new session record.
        programme: The event programme (empty: none).
        item: The programme item on now (an index into ``programme.items``), or None.
        speaker: The speaker the operator set for the floor, or None.
        auto_advance: Whether the item follows the programme's schedule.
        title: The session's title (``captioner run --title``, a resumed session's, or
            the one the operator gave a new session); empty when it has none. It rides
            in the figures so that a serving edge names the room on the venue index
            from the room's first snapshot on, whenever the edge started.
    """

    at_ns: int
    inputs: tuple[InputFigures, ...] = ()
    languages: tuple[str, ...] = ()
    placement: Placement = Placement()
    forced_language: str | None = None
    paused: bool = False
    held: int = 0
    committed: int = 0
    translation_engines: Mapping[str, str] = field(default_factory=dict)
    translation_queue: int = 0
    translation_dropped: int = 0
    recording: RecordFigures | None = None
    input_pass: int | None = None
    speed: float = 1.0
    time_offset_s: float = 0.0
    new_session: bool = False
    programme: Programme = Programme()
    item: int | None = None
    speaker: ProgrammeSpeaker | None = None
    auto_advance: bool = False
    title: str = ""

    @property
    def asr_seconds(self) -> float:
        return sum(i.asr_seconds for i in self.inputs)

    @property
    def passes(self) -> int:
        return sum(i.passes for i in self.inputs)

    def input(self, input_id: str) -> InputFigures | None:
        return next((i for i in self.inputs if i.id == input_id), None)
