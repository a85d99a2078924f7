"""The screen gate, pure: what reaches the screens while live and while paused."""

from __future__ import annotations

from captioner.events import Caption, Status
from captioner.room.gate import ScreenGate


def cap(text: str, *, final: bool = True, id: str = "u1", lang: str = "en",
        input_id: str = "floor", revision: int = 0) -> Caption:
    return Caption(id=id, final=final, lang=lang, text=text, start_s=0.0, end_s=1.0,
                   emitted_ns=1, input_id=input_id, seq=1 if final else None,
                   revision=revision)


def st(state: str, input_id: str | None = None, **detail) -> Status:
    return Status(state, 1, input_id=input_id, detail=detail)


def test_gate_passes_everything_while_live():
    gate = ScreenGate()
    for event in (cap("a", final=False), cap("a"), st("levels", "floor"), st("clear")):
        assert gate.forward(event) == [event]


def test_gate_holds_captions_while_paused_and_counts_committed_ones():
    gate = ScreenGate()
    paused = st("paused", message="Break")
    assert gate.forward(paused) == [paused]
    assert gate.forward(cap("hidden", final=False)) == []
    assert gate.forward(cap("hidden")) == []
    message = st("message", text="Back soon")
    assert gate.forward(message) == [message]  # operator messages still go out
    assert gate.held == 1
    resumed = st("resumed")
    assert gate.forward(resumed) == [resumed]
    assert gate.forward(cap("shown")) == [cap("shown")]


def test_gate_withdraws_partials_on_display_when_pausing():
    gate = ScreenGate()
    gate.forward(cap("half a sent", final=False, id="a", revision=2))
    gate.forward(cap("booth words", final=False, id="b", input_id="booth", lang="ru"))
    gate.forward(cap("done", final=False, id="c", lang="ru"))
    gate.forward(cap("Done.", id="c", lang="ru"))  # committed: nothing left to withdraw
    out = gate.forward(st("paused"))
    assert out[0].state == "paused"
    withdrawn = out[1:]
    assert [(c.id, c.text, c.final, c.revision) for c in withdrawn] == [
        ("a", "", False, 3), ("b", "", False, 1)]
    assert gate.forward(st("paused")) == [st("paused")]  # nothing on display any more


def test_gate_keeps_screens_paused_across_listening_and_reannounces_lost_inputs():
    gate = ScreenGate()
    paused = st("paused", message="Break")
    gate.forward(paused)
    listening = st("listening")
    assert gate.forward(listening) == [listening, paused]  # views clear "paused" on it
    lost = st("input_lost", "floor", error="unplugged")
    gate.forward(lost)
    gate.forward(st("input_lost", "booth"))
    gate.forward(st("input_restored", "booth"))
    resumed = st("resumed")
    assert gate.forward(resumed) == [resumed, lost]  # views clear "no audio" on resumed
    gate.forward(st("listening", "floor"))
    assert gate.forward(st("paused")) and gate.forward(resumed) == [resumed]


def test_gate_takes_input_ok_as_input_restored():
    gate = ScreenGate()
    gate.forward(st("input_lost", "floor"))
    gate.forward(st("input_ok", "floor"))
    gate.forward(st("paused"))
    resumed = st("resumed")
    assert gate.forward(resumed) == [resumed]
