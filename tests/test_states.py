"""The table of status states: the module, the protocol document, the emitters and the views."""

from __future__ import annotations

import re

from captioner import states
from captioner.delivery import broadcast, metrics
from captioner.record import journal
from tests.conftest import REPO


def protocol_table() -> dict[str, dict[str, str]]:
    """The status table of docs/protocol.md: state -> its columns (grouped rows split)."""
    text = (REPO / "docs" / "protocol.md").read_text(encoding="utf-8")
    section = text[text.index("### Status"):text.index("### What viewers may send")]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows: dict[str, dict[str, str]] = {}
    for line in lines[2:]:
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
        for name in re.findall(r"`([a-z_]+)`", cells["state"]):
            assert name not in rows, f"{name} is in the table twice"
            rows[name] = cells
    return rows


def test_the_protocol_table_lists_exactly_the_states_of_the_module():
    table = protocol_table()
    assert sorted(table) == sorted(states.STATES)


def test_the_protocol_table_gives_each_state_the_sets_of_the_module():
    for name, row in protocol_table().items():
        state = states.STATES[name]
        assert (row["journal"] == "yes") == state.journaled, name
        assert (row["error"] == "yes") == state.error, name
        assert ("momentary" in row["views"]) == state.momentary, name
        unseen = row["views"].startswith(("not shown", "ignored"))
        assert unseen != state.shown, name


def emitted_states() -> set[str]:
    """The states the code emits by their word, and the module's named constants."""
    patterns = (r'Status\(\s*"([a-z_]+)"',
                r'Status\(\s*"[a-z_]+" if [^,]+ else "([a-z_]+)"',
                r'state = "([a-z_]+)" if ',
                r'state = "[a-z_]+" if [^\n]+ else "([a-z_]+)"')
    found: set[str] = set()
    for path in (REPO / "captioner").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        for pattern in patterns:
            found.update(re.findall(pattern, source))
    constants = {value for name, value in vars(states).items()
                 if name.isupper() and isinstance(value, str)}
    return found | constants


def test_every_state_the_code_emits_is_in_the_table():
    assert emitted_states() - set(states.STATES) == set()


def test_what_the_views_act_on_is_the_shown_set():
    web = REPO / "web_overlay"
    feed = (web / "feed.js").read_text(encoding="utf-8")
    board = feed[feed.index("export class StatusBoard"):]
    handled = set(re.findall(r'case "([a-z_]+)":', board))
    for view in ("screen.js", "phone.js", "overlay.js"):
        handled.update(re.findall(r'msg\.state === "([a-z_]+)"',
                                  (web / view).read_text(encoding="utf-8")))
    assert handled == states.SHOWN


def test_an_alias_is_in_the_same_sets_as_its_state():
    for state in states.STATES.values():
        if state.alias_of is None:
            continue
        target = states.STATES[state.alias_of]
        assert target.alias_of is None
        assert (state.journaled, state.error, state.logged, state.shown, state.momentary,
                state.ends) == (target.journaled, target.error, target.logged, target.shown,
                                target.momentary, target.ends)


def test_each_stage_reads_its_set_from_the_module():
    assert journal.JOURNALED_STATES is states.JOURNALED
    assert metrics.ERROR_STATES is states.ERRORS
    assert metrics.LOGGED_STATES is states.LOGGED
    assert broadcast.TRANSIENT_STATES is states.MOMENTARY
    assert states.ERRORS <= states.LOGGED


def test_the_sets_the_protocol_promises():
    assert {"translation_degraded", "session_resumed", "translation_available",
            "input_lost", "recording_error"} <= states.JOURNALED
    assert {"translation_degraded", "translation_dropped", "recording_error"} <= states.ERRORS
    assert "translation_dropped" not in states.JOURNALED | states.SHOWN
    # One state for a record that cannot be written, whatever part of it.
    assert "journal_error" not in states.STATES
    assert states.ends("input_ok", "input_lost") and states.ends("input_restored", "input_lost")
    assert states.ends("translation_available", "translation_unavailable")
    assert not states.ends("unknown", "input_lost")
