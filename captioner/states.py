"""Every status state there is, and which sets it belongs to: the one table of them.

A :class:`~captioner.events.Status` carries a short word, its ``state``. What each
stage does with a state is data here, not a string set of its own: the journal keeps
the :data:`JOURNALED` ones, the metrics count the :data:`ERRORS`, the console's log
keeps the :data:`LOGGED`, the views act on the :data:`SHOWN`, a connecting viewer is
not sent the :data:`MOMENTARY` ones again, and :func:`ends` says which state ends the
condition another one started. ``docs/protocol.md``'s status table lists the same
states with the same sets (``tests/test_states.py`` holds the two together).

A state not listed here is in no set: it goes to the viewers and is otherwise ignored.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class State:
    """One status state and what it is to each stage.

    Attributes:
        name: The word on the wire (``Status.state``).
        journaled: Part of the session record (``journal.jsonl``).
        error: Counted in ``captioner_errors_total{kind=<name>}`` and shown as an error
            in the console's event log.
        logged: Kept in the console's event log (errors always are).
        shown: The views show it or act on it (``web_overlay/``).
        momentary: Describes a moment, not a condition: sent live, never replayed to a
            viewer that connects later.
        ends: The states whose condition this one ends, for the same input (or for
            every input when it names none) or the same ``lang``.
        alias_of: This is an older name of that state: accepted and treated alike, but
            never emitted.
    """

    name: str
    journaled: bool = False
    error: bool = False
    logged: bool = True
    shown: bool = False
    momentary: bool = False
    ends: frozenset[str] = frozenset()
    alias_of: str | None = None


LISTENING = "listening"
RESUMED = "resumed"
PAUSED = "paused"
ENDED = "ended"
STOPPED = "stopped"
INPUT_LOST = "input_lost"
INPUT_RESTORED = "input_restored"
INPUT_OK = "input_ok"
LEVELS = "levels"
WARNING = "warning"
WARNING_CLEARED = "warning_cleared"
CLEAR = "clear"
MESSAGE = "message"
LANGUAGE_FORCED = "language_forced"
INPUT_ENABLED = "input_enabled"
INPUT_DISABLED = "input_disabled"
SPEAKER_SET = "speaker_set"
PROGRAMME_ITEM = "programme_item"
SESSION_STARTED = "session_started"
SESSION_RESUMED = "session_resumed"
TRANSLATION_UNAVAILABLE = "translation_unavailable"
TRANSLATION_AVAILABLE = "translation_available"
TRANSLATION_DEGRADED = "translation_degraded"
TRANSLATION_ERROR = "translation_error"
TRANSLATION_DROPPED = "translation_dropped"
SPEECH_DROPPED = "speech_dropped"
BUS_CONNECTED = "bus_connected"
BUS_DOWN = "bus_down"
RECORDING_ERROR = "recording_error"
RECORDING_OK = "recording_ok"

_TABLE = (
    # The source: listening, its inputs, its end.
    State(LISTENING, shown=True, ends=frozenset({STOPPED, INPUT_LOST})),
    State(ENDED),
    State(STOPPED, journaled=True, shown=True),
    State(INPUT_LOST, journaled=True, error=True, shown=True),
    State(INPUT_RESTORED, journaled=True, shown=True, ends=frozenset({INPUT_LOST})),
    State(INPUT_OK, journaled=True, shown=True, ends=frozenset({INPUT_LOST}),
          alias_of=INPUT_RESTORED),
    State(LEVELS, logged=False, momentary=True),
    State(WARNING),
    State(WARNING_CLEARED, ends=frozenset({WARNING})),
    # The operator's actions.
    State(PAUSED, journaled=True, shown=True),
    State(RESUMED, journaled=True, shown=True, ends=frozenset({PAUSED})),
    State(CLEAR, shown=True, momentary=True),
    State(MESSAGE, journaled=True, shown=True, momentary=True),
    State(LANGUAGE_FORCED),
    State(INPUT_ENABLED, ends=frozenset({INPUT_DISABLED})),
    State(INPUT_DISABLED, ends=frozenset({INPUT_ENABLED})),
    State(SPEAKER_SET, journaled=True),
    State(PROGRAMME_ITEM, journaled=True),
    # The session record.
    State(SESSION_STARTED, journaled=True),
    State(SESSION_RESUMED, journaled=True),
    State(RECORDING_ERROR, journaled=True, error=True),
    State(RECORDING_OK, journaled=True, ends=frozenset({RECORDING_ERROR})),
    # Recognition.
    State(SPEECH_DROPPED, journaled=True),
    # Machine translation.
    State(TRANSLATION_UNAVAILABLE, journaled=True, error=True, shown=True),
    State(TRANSLATION_AVAILABLE, journaled=True, shown=True,
          ends=frozenset({TRANSLATION_UNAVAILABLE})),
    State(TRANSLATION_DEGRADED, journaled=True, error=True),
    State(TRANSLATION_ERROR, error=True),
    State(TRANSLATION_DROPPED, error=True),
    # The venue's bus (captioner run --bus).
    State(BUS_DOWN, error=True, momentary=True),
    State(BUS_CONNECTED, momentary=True, ends=frozenset({BUS_DOWN})),
)

#: Every state by name.
STATES: dict[str, State] = {s.name: s for s in _TABLE}

#: Part of the session record.
JOURNALED = frozenset(s.name for s in _TABLE if s.journaled)
#: Counted as errors by the metrics (``captioner_errors_total{kind=<state>}``).
ERRORS = frozenset(s.name for s in _TABLE if s.error)
#: Kept in the operator console's event log.
LOGGED = frozenset(s.name for s in _TABLE if s.logged or s.error)
#: Shown or acted on by the views.
SHOWN = frozenset(s.name for s in _TABLE if s.shown)
#: Never replayed to a connecting viewer.
MOMENTARY = frozenset(s.name for s in _TABLE if s.momentary)


def ends(state: str, condition: str) -> bool:
    """Whether a status in ``state`` ends the condition a ``condition`` status started.

    >>> ends("input_restored", "input_lost"), ends("input_lost", "input_lost")
    (True, False)
    """
    known = STATES.get(state)
    return known is not None and condition in known.ends
