"""The screen gate: what of a room's events reaches the screens; holds captions back
while the operator has paused them. Pure: events in, events out."""

from __future__ import annotations

from dataclasses import replace

from captioner import states
from captioner.events import Caption, Status


class ScreenGate:
    """Decides what reaches the screens; holds captions back while paused.

    Sits between the pipeline and the broadcaster. It follows the ``paused`` and
    ``resumed`` statuses that flow through it, so the screens are paused exactly when
    they are told so:

    * while paused, captions (partial and committed) are not forwarded; committed ones
      are counted in :attr:`held`. The journal, which is another sink, still gets them.
    * on ``paused``, partials still on display are withdrawn (an empty partial), so
      resuming never brings back a half sentence from before the break.
    * views clear their "paused" and "no audio" notices on ``listening``/``resumed``: a
      ``listening`` that arrives while paused is followed by the ``paused`` status
      again, and ``resumed`` by the ``input_lost`` statuses still in force.
    """

    def __init__(self) -> None:
        self.paused = False
        self.held = 0
        self._paused_status: Status | None = None
        self._partials: dict[tuple[str, str], Caption] = {}
        self._lost: dict[str | None, Status] = {}

    def forward(self, event: Caption | Status) -> list[Caption | Status]:
        """The events to send to the screens for one event of the pipeline."""
        if isinstance(event, Caption):
            return self._caption(event)
        state = event.state
        if state == "paused":
            self.paused = True
            self._paused_status = event
            withdrawn = [replace(c, text="", words=(), revision=c.revision + 1,
                                 emitted_ns=event.emitted_ns)
                         for c in self._partials.values()]
            self._partials.clear()
            return [event, *withdrawn]
        if state == "resumed":
            self.paused = False
            self._paused_status = None
            return [event, *self._lost.values()]
        if state == "input_lost":
            self._lost[event.input_id] = event
        elif state == "listening":
            if event.input_id is None:
                self._lost.clear()
            else:
                self._lost.pop(event.input_id, None)
            if self.paused and self._paused_status is not None:
                return [event, self._paused_status]
        elif states.ends(state, states.INPUT_LOST):
            self._lost.pop(event.input_id, None)
        return [event]

    def _caption(self, caption: Caption) -> list[Caption | Status]:
        if self.paused:
            if caption.final:
                self.held += 1
            return []
        key = (caption.lang, caption.input_id)
        if caption.final:
            current = self._partials.get(key)
            if current is not None and current.id == caption.id:
                del self._partials[key]
        elif caption.text:
            self._partials[key] = caption
        else:
            self._partials.pop(key, None)
        return [caption]
