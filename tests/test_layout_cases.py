"""The line rules shared by ``captioner.layout`` and ``web_overlay/lines.js``.

``tests/layout_cases.json`` is one table of cases for both: this module runs it
through the Python reference, and ``tests/web_overlay/test_lines_browser.py`` runs the same
table through the JavaScript the views use, in Chromium. Regenerate the table after
a deliberate change of the rules with ``python -m tests.test_layout_cases`` and
review the diff: every changed line is a changed layout on the screens.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

from captioner.config import CaptionsConfig
from captioner.layout import reading_time_s, rolling_lines

CASES_PATH = Path(__file__).with_name("layout_cases.json")

# Hand-written cases, each for one rule; the expected lines were checked by reading them.
HAND = [
    # A sentence end in the second half of the line is the break.
    (["Thank you. Our bank is ready to support the water projects in the region."], 42),
    # So is a clause end, when there is no sentence end.
    (["Water resources in the region are shrinking, so we need shared solutions now."], 42),
    # "of" and "the" go down to the words they belong to.
    (["Good afternoon, ladies and gentlemen. Today we will discuss climate finance for "
      "Central Asia and the role of development banks."], 42),
    (["We will present the new national climate plan and we will propose to create a "
      "new fund for the national climate change."], 42),
    # Fragments as the recogniser commits them: the same lines as the joined text.
    (["We will", "present the", "new national", "climate", "and the",
      "new national climate.", "plan we", "will", "propose to create",
      "a new fund for the", "why I think", "national climate change."], 42),
    (["Водные ресурсы региона сокращаются, поэтому нам нужны общие решения и новые "
      "инвестиции в сельское хозяйство."], 39),
    (["Добрый день, уважаемые коллеги. Сегодня мы обсуждаем изменение климата в "
      "Центральной Азии и сотрудничество между нашими странами."], 39),
    # A lone hyphen is a dash in Whisper's Russian: a clause end.
    (["Это важный вопрос - и для нас, и для наших соседей по региону, и для всех."], 39),
    # Closing quotes do not hide a sentence end.
    (['He said "we are ready." Then the minister answered the question at once.'], 42),
    # A line is never left less than half full for a boundary.
    (["Yes. The international cooperation development proposal is important."], 42),
    # Words longer than a line are cut: a roll-up box has a fixed width.
    (["see https://example.org/a/very/long/path/that/never/ends/at/all/really ok"], 20),
    (["abcdefghij"], 4),
    # "the" stays up when carrying it down would overflow the next line by one.
    (["cooperation the internationalised"], 20),
    (["cooperation the internationalise"], 20),
    # Text made of function words only still fills its lines.
    (["and the of to in on at by for from with as into and the of to in on at"], 20),
    ([], 42),
    (["   "], 42),
]

EN_VOCAB = ("the a of to and in we our people conference budget important question "
            "international cooperation development everyone today tomorrow really think "
            "government proposal thank you very much I would like to say that this is").split()
RU_VOCAB = ("и в на с к по о что не мы наш люди конференция бюджет важный вопрос "
            "международное сотрудничество развитие сегодня завтра действительно думаю "
            "правительство предложение спасибо большое хотел бы сказать это -").split()
PUNCT = ("", "", "", "", "", ",", ".", "?", "!", ";", ":", "…", '."', "»")


def _random_history(rng: random.Random, vocab: list[str]) -> list[str]:
    history = []
    for _ in range(rng.randint(1, 8)):
        words = [rng.choice(vocab) + rng.choice(PUNCT) for _ in range(rng.randint(1, 9))]
        history.append(" ".join(words))
    return history


def build_cases() -> dict:
    """The whole table, computed with the Python reference."""
    rng = random.Random(18)
    inputs = list(HAND)
    for _ in range(30):
        vocab, width = rng.choice(((EN_VOCAB, 42), (RU_VOCAB, 39), (EN_VOCAB, 24)))
        inputs.append((_random_history(rng, vocab), width))
    rolling = []
    for history, width in inputs:
        for max_lines in (100, 3):
            rolling.append({"history": history, "max_chars": width, "max_lines": max_lines,
                            "lines": list(rolling_lines(history, width, max_lines))})
    rolling.append({"history": ["hello"], "max_chars": 42, "max_lines": 0, "lines": []})
    reading = []
    for text, min_s, cps in (("", 1.0, 17.0), ("Thank you.", 1.0, 17.0),
                             ("We will present the new national climate", 1.0, 17.0),
                             ("Водные ресурсы региона сокращаются,", 1.5, 12.0),
                             ("no reading-speed limit at all here", 0.8, 0.0)):
        cfg = CaptionsConfig(min_duration_s=min_s, max_cps=cps)
        reading.append({"text": text, "min_duration_s": min_s, "max_cps": cps,
                        "seconds": reading_time_s(text, cfg)})
    return {"rolling_lines": rolling, "reading_time_s": reading}


def load_cases() -> dict:
    return json.loads(CASES_PATH.read_text(encoding="utf-8"))


CASES = load_cases() if CASES_PATH.exists() else {"rolling_lines": [], "reading_time_s": []}


def _case_id(case: dict) -> str:
    return f"{case['max_chars']}x{case['max_lines']}:{' '.join(case['history'])[:30]}"


@pytest.mark.parametrize("case", CASES["rolling_lines"], ids=_case_id)
def test_rolling_lines_match_the_table(case):
    assert list(rolling_lines(case["history"], case["max_chars"], case["max_lines"])) == \
        case["lines"]


@pytest.mark.parametrize("case", CASES["reading_time_s"], ids=lambda c: c["text"][:20] or "empty")
def test_reading_time_matches_the_table(case):
    cfg = CaptionsConfig(min_duration_s=case["min_duration_s"], max_cps=case["max_cps"])
    assert reading_time_s(case["text"], cfg) == pytest.approx(case["seconds"])


def test_the_table_is_what_the_reference_computes():
    # The table is data for two implementations; it must not drift from the reference.
    assert build_cases() == CASES


@pytest.mark.parametrize("case", [c for c in CASES["rolling_lines"] if c["max_lines"] == 100],
                         ids=_case_id)
def test_table_lines_obey_the_rules(case):
    lines, width = case["lines"], case["max_chars"]
    assert all(0 < len(line) <= width for line in lines)
    # Nothing lost, nothing reordered (long words are cut into pieces, so compare letters).
    assert "".join("".join(lines).split()) == "".join("".join(case["history"]).split())
    # Every line but the last is at least half full, unless a cut word filled it.
    for line, following in zip(lines, lines[1:], strict=False):
        assert len(line) >= width / 2 or len(line) + 1 + len(following.split()[0]) > width


def test_hand_cases_break_at_phrase_boundaries():
    by_text = {" ".join(c["history"]): c["lines"] for c in CASES["rolling_lines"]
               if c["max_lines"] == 100}
    assert by_text["Thank you. Our bank is ready to support the water projects in the "
                   "region."][0] == "Thank you. Our bank is ready to support"
    lines = by_text["Good afternoon, ladies and gentlemen. Today we will discuss climate "
                    "finance for Central Asia and the role of development banks."]
    assert lines[0] == "Good afternoon, ladies and gentlemen."
    assert not any(line.split()[-1] in ("of", "the", "for", "and") for line in lines[:-1])
    fragments = by_text["We will present the new national climate and the new national "
                        "climate. plan we will propose to create a new fund for the why I "
                        "think national climate change."]
    assert fragments == list(rolling_lines([" ".join(fragments)], 42, 100))


if __name__ == "__main__":
    CASES_PATH.write_text(json.dumps(build_cases(), ensure_ascii=False, indent=1) + "\n",
                          encoding="utf-8")
    print(f"wrote {CASES_PATH}", file=sys.stderr)
