"""bench.common: how the benchmarks score a transcript against its reference."""

import pytest

from bench.common import error_rate, normalise, reference_units


def test_a_numeric_range_written_with_a_dash_reads_as_spelled_out_in_english():
    # en_fleurs_000: the reference says "25 to 30", Whisper writes "25-30" or "25 to 30".
    assert normalise("by 25-30 years", "en") == normalise("by 25 to 30 years", "en")
    assert error_rate("lag behind by 25 to 30 years", "Lag behind by 25–30 years.", "en") == (
        "WER", 0.0)
    # Only between digits, and only in English.
    assert normalise("a well-known 3-D model", "en") == "a well known 3 d model"
    assert normalise("в 25-30 годах", "ru") == "в 25 30 годах"


def test_russian_is_scored_by_characters_and_english_by_words():
    kind, rate = error_rate("Штирлиц шёл", "штирлиц шел.", "ru")
    assert (kind, rate) == ("CER", 0.0)
    assert reference_units("Штирлиц шёл", "ru") == len("штирлиц шел")
    assert reference_units("25 to 30 years", "en") == 4
    assert error_rate("one two three four", "one two four", "en") == ("WER", pytest.approx(0.25))
