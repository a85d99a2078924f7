"""bench.bus: the venue benchmark's traffic and viewer plan, and a run at a tiny size.

Nothing here is timed: the smoke run checks that the benchmark runs end to end on a real
nats-server and prints its figures, whatever they are on this machine.
"""

from __future__ import annotations

import pytest

from bench.bus import busy_fraction, main
from bench.bus_nodes import PATTERN, make_caption, schedule
from bench.bus_viewers import Scenario, plan_viewers, split
from captioner.bus.codec import decode_published, encode_published
from captioner.bus.messages import Published
from tests.nats_server import require_nats_server


def test_each_cycle_is_three_committed_and_five_partial_captions_in_order():
    captions = [make_caption(i, 1_000 + i) for i in range(3 * len(PATTERN))]
    committed = [c for c in captions if c.final]
    assert len(committed) == 9 and len(captions) - len(committed) == 15
    assert [c.seq for c in committed] == list(range(1, 10))
    # A partial is an earlier revision of the utterance that its committed caption ends.
    for before, after in zip(captions, captions[1:], strict=False):
        if not before.final:
            assert after.id == before.id
            assert after.final or after.revision == before.revision + 1
    assert {c.lang for c in committed} == {"ru", "en"}
    assert all(c.words and c.emitted_ns == 1_000 + i for i, c in enumerate(captions))


def test_a_caption_survives_the_bus_codec_with_its_emission_time():
    caption = make_caption(2, 1_746_075_600_123_456_789)
    assert decode_published(encode_published(Published("room-00", caption))).event == caption


def test_the_schedule_keeps_every_room_near_its_rate_and_in_time_order():
    beats = schedule(rooms=3, seconds=200.0, rate=8.0, seed=1)
    assert [b.at_s for b in beats] == sorted(b.at_s for b in beats)
    for room in range(3):
        mine = [b for b in beats if b.room == room]
        assert [b.index for b in mine] == list(range(len(mine)))
        assert 1400 < len(mine) < 1800  # 1600 expected
    assert schedule(3, 200.0, 8.0, seed=1) == beats  # the same traffic in every process


def test_viewers_are_spread_over_rooms_edges_and_processes():
    assert split(10, 3) == [4, 3, 3] and split(10, 3, rotate=1) == [3, 4, 3]
    scenario = Scenario("bus", rooms=3, fast=19, slow=2)
    ports = [[100, 101, 102], [200, 201, 202]]
    plans = plan_viewers(scenario, edges=2, ports=ports, procs=2)
    fast = [t for f, _s in plans for t in f]
    slow = [t for _f, s in plans for t in s]
    assert len(fast) == 2 * 19 and len(slow) == 2 * 2
    assert all(t.port == ports[t.edge][t.room] for t in fast + slow)
    for edge in (0, 1):
        counts = sorted(sum(1 for t in fast if (t.edge, t.room) == (edge, r)) for r in range(3))
        assert counts == [6, 6, 7]
    assert abs(len(plans[0][0]) - len(plans[1][0])) <= 1
    paired = plan_viewers(Scenario("bus", 3, 19, 2, slow_edges=1), 2, ports, 1)
    assert {t.edge for t in paired[0][1]} == {0} and len(paired[0][1]) == 2
    assert len(paired[0][0]) == 2 * 19


def test_busy_fraction_counts_iowait_as_idle_and_reports_interrupts_and_steal():
    before = {"cpu0": [0] * 8, "cpu1": [0] * 8}
    # user nice system idle iowait irq softirq steal
    after = {"cpu0": [50, 0, 10, 30, 10, 0, 0, 0], "cpu1": [20, 0, 0, 60, 0, 5, 5, 10]}
    busy, irq, steal = busy_fraction(before, after)
    assert busy == pytest.approx(100 / 200) and steal == pytest.approx(10 / 200)
    assert irq == pytest.approx(10 / 200)


@pytest.mark.integration
def test_a_tiny_run_prints_the_figures_of_both_modes(capsys):
    require_nats_server()
    code = main(["--rooms", "1", "--edges", "2", "--viewers-per-edge", "8",
                 "--slow-share", "0.25", "--seconds", "1", "--warmup", "0.2",
                 "--drain", "0.5", "--client-procs", "1", "--connect-timeout", "30",
                 "--retries", "0"])
    out = capsys.readouterr().out
    assert code in (0, 1), out  # 2 would be an error; 1 a target missed on a busy machine
    assert "machine: " in out and "command: python -m bench.bus --rooms 1" in out
    for run in ("== local, 1 room:", "== bus, 1 room:",
                "== bus, 1 room, slow viewers on edge 0 only:"):
        assert run in out
    assert out.count("    all       p50") == 3
    assert "edge 0's fast viewers (2 slow beside them)" in out
    assert "edge 1's fast viewers (0 slow beside them)" in out
    assert "nats-server: CPU" in out and "edge 1: CPU" in out
    assert "stored and acknowledged by the bus" in out and "fan-out of one caption" in out
    assert "| 1 | bus | 2 x 8 (2) |" in out
    assert "| 1 | bus slow viewers on edge 0 only | 2 x 8 (2 on 1) |" in out
    assert "the bus adds" in out and "on the edge(s) without, in the same run" in out
