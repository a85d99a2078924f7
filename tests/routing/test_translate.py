"""Translation: what serves a direction (an Argos package, Whisper, or nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from captioner.routing.argos import ArgosPackage
from captioner.routing.translate import WHISPER_TRANSLATE, choose_engine, parse_direction

# --- choosing an engine -----------------------------------------------------------------


def _pkg(src: str, dst: str) -> ArgosPackage:
    return ArgosPackage(Path(f"/models/argos-{src}-{dst}"), src, dst, f"{src}-{dst}")


def test_package_serves_its_direction():
    choice = choose_engine("en->ru", [_pkg("ru", "en"), _pkg("en", "ru")], True)
    assert choice.engine == "argos" and choice.package == _pkg("en", "ru")
    assert choice.available and "/models/argos-en-ru" in choice.reason


def test_whisper_serves_only_into_english_and_only_without_a_package():
    assert choose_engine("ru->en", [], True).engine == WHISPER_TRANSLATE
    assert choose_engine("ru->en", [_pkg("ru", "en")], True).engine == "argos"
    none = choose_engine("ru->en", [], False)
    assert none.engine is None and not none.available
    assert "captioner models install argos:ru-en --from FILE" in none.reason


def test_nothing_serves_en_to_ru_without_a_package():
    choice = choose_engine("en->ru", [_pkg("ru", "en")], True)
    assert choice.engine is None and choice.package is None
    assert choice.reason == ("no en->ru translation package installed; install with: "
                             "captioner models install argos:en-ru --from FILE")


@pytest.mark.parametrize("spelling", ["ru->en", "ru-en", "RU_en", "ru → en", ("ru", "en")])
def test_direction_spellings(spelling):
    assert parse_direction(spelling) == ("ru", "en")


def test_bad_direction():
    with pytest.raises(ValueError, match="translation direction"):
        parse_direction("russian")


def test_same_language_needs_no_engine():
    assert choose_engine("en->en", [], True).engine is None

