"""The live worker's schedule (pure): when the next pass is due, and where a pass
starts decoding."""

from __future__ import annotations

import pytest

from captioner.recognition.schedule import pass_due, pass_start


@pytest.mark.parametrize("new_audio_s, last_pass_s, due", [
    (0.45, 0.3, False),  # fast passes: at least min_step_s of new audio
    (0.5, 0.3, True),
    (0.5, 0.6, True),    # a 0.6 s pass: the 0.5 s that came in (whole blocks) will do
    (1.0, 2.0, False),   # slow passes thin out...
    (1.6, 2.0, True),
    (3.0, 9.0, True),    # ...up to a 3 s step
])
def test_next_pass_waits_for_new_audio_in_step_with_pass_time(new_audio_s, last_pass_s, due):
    assert pass_due(new_audio_s, last_pass_s, min_step_s=0.5) is due


def test_final_pass_reaches_back_into_its_utterance_for_context():
    # en_fleurs_000: the buffer was trimmed to 8.38 s just before the speech ended at
    # 9.03 s; decoded alone, the 0.65 s holding "years." gave nothing.
    assert pass_start(8.38, 0.0, 9.03, min_s=3.0) == pytest.approx(6.03)
    assert pass_start(2.0, 0.0, 9.03, min_s=3.0) == 2.0  # long enough already
    assert pass_start(8.38, 7.5, 9.03, min_s=3.0) == 7.5  # not before the utterance


def test_final_pass_reaching_back_starts_where_a_committed_word_ends():
    # ru_welcome: 3 s before the end fell inside "сотрудничества" (7.34-8.24 s).
    ends = [5.30, 6.06, 6.74, 7.18, 7.34, 8.24, 8.66, 9.26]
    assert pass_start(9.26, 0.0, 10.06, min_s=3.0, word_ends=ends) == 6.74
    # No word ends within another context_s before: the plain 3 s.
    assert pass_start(9.26, 0.0, 10.06, min_s=3.0, word_ends=[1.0]) == pytest.approx(7.06)
    assert pass_start(9.26, 6.9, 10.06, min_s=3.0, word_ends=ends) == 6.9


def test_every_pass_reaches_back_before_the_trim_point_to_a_committed_word():
    # en_fleurs_001: the buffer was cut at 4.40 s, after "begin"; passes from there
    # read "even the middle". From "you" (3.30 s) on, Whisper has the speech before.
    ends = [0.76, 1.14, 1.62, 1.96, 2.16, 2.62, 3.00, 3.30, 3.90, 4.40]
    assert pass_start(4.40, 0.0, 7.40, context_s=2.0, word_ends=ends) == 2.16
    assert pass_start(4.40, 0.0, 7.40, context_s=0.0, word_ends=ends) == 4.40
    assert pass_start(4.40, 3.5, 7.40, context_s=2.0, word_ends=ends) == 3.5
    # The further reach wins: 2 s before the buffer or 3 s before the end.
    assert pass_start(8.38, 0.0, 9.03, context_s=2.0, min_s=3.0) == pytest.approx(6.03)
    assert pass_start(4.40, 0.0, 9.03, context_s=2.0, min_s=3.0) == pytest.approx(2.40)
