"""Reading journals back for the bus: the events after a caption, in journal order."""

from __future__ import annotations

from captioner.events import Caption, Status
from captioner.record.journal import Journal
from captioner.record.replay import events_after, journal_replay

T0_NS = 1_746_075_600_000_000_000


def caption(seq: int) -> Caption:
    return Caption(id=f"floor-{seq}", final=True, lang="ru", text=f"фраза {seq}",
                   start_s=seq * 1.5, end_s=seq * 1.5 + 1.0, emitted_ns=T0_NS + seq * 10**9,
                   seq=seq)


def status(state: str, n: int) -> Status:
    return Status(state, T0_NS + n * 10**9 + 500, "floor", {"n": n})


def write(path, events) -> None:
    with Journal(path, fsync_interval_s=3600) as journal:
        for event in events:
            journal.append(event)


def summary(events) -> list:
    return [e.seq if isinstance(e, Caption) else (e.state, e.detail["n"]) for e in events]


def test_the_events_after_a_caption_in_journal_order(tmp_path):
    path = tmp_path / "journal.jsonl"
    write(path, [status("session_started", 0), caption(1), status("paused", 1), caption(2),
                 caption(3), status("resumed", 3), caption(4)])
    replay = journal_replay(lambda: [path])
    assert summary(replay(0)) == [("session_started", 0), 1, ("paused", 1), 2, 3,
                                  ("resumed", 3), 4]
    assert summary(replay(2)) == [3, ("resumed", 3), 4]
    assert summary(replay(1)) == [("paused", 1), 2, 3, ("resumed", 3), 4]
    assert replay(4) == [] and replay(99) == []
    # The journal keeps times to the microsecond and no timed words: what comes back is
    # the journal's caption.
    back = replay(3)[-1]
    assert (back.id, back.text, back.seq, back.source) == ("floor-4", "фраза 4", 4, "floor")
    assert abs(back.emitted_ns - caption(4).emitted_ns) < 1000


def test_the_journals_of_a_run_are_read_in_turn(tmp_path):
    first, second = tmp_path / "s1.jsonl", tmp_path / "s2.jsonl"
    write(first, [caption(1), caption(2)])
    write(second, [status("session_started", 2), caption(3)])
    replay = journal_replay(lambda: [first, second, tmp_path / "gone.jsonl"])
    assert summary(replay(1)) == [2, ("session_started", 2), 3]


def test_damage_and_a_torn_tail_are_skipped():
    lines = [b'{"type":"caption","final":true,"id":"a","lang":"en","text":"x","start_s":0,'
             b'"end_s":1,"seq":1}', b"not json", b'{"type":"caption","final":false}',
             b'{"type":"caption","final":false,"id":"p","lang":"en","text":"x","start_s":0,'
             b'"end_s":1,"revision":2}', b'{"type":"later-kind"}', b"", b'{"type":"capt']
    assert summary(events_after(lines, 0)) == [1]
