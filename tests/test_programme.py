"""The event programme: from the TOML config and from a spreadsheet's CSV, with the error
lines a malformed one gives, and the programme as data and as a schedule."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from captioner.config import load_config
from captioner.errors import ConfigError
from captioner.programme import (
    Programme,
    ProgrammeItem,
    ProgrammeSpeaker,
    item_when,
    load_csv,
    parse_csv,
    programme_from_data,
    programme_to_data,
    scheduled_item,
    speaker_label,
)
from tests.conftest import REPO

TOML = """
[[inputs]]
id = "floor"

[[inputs]]
id = "booth"
source = "interpretation"

[[programme.items]]
title = "Opening"
start = "9:30"
end = "09:40"
[[programme.items.speakers]]
name = "Dr. Aliya Seitkali"
role = "Moderator"
language = "ru"

[[programme.items]]
title = "The bank's presentation"
start = "09:40"
[[programme.items.speakers]]
name = "Michael Turner"
role = "ADB"
language = "en"
input = "floor"
[[programme.items.speakers]]
name = "Sarah Lindqvist"

[[programme.items]]
title = "Coffee break"
"""


def write(tmp_path: Path, text: str, name: str = "venue.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_programme_loads_from_the_config(tmp_path):
    cfg = load_config(write(tmp_path, TOML))
    opening, bank, coffee = cfg.programme.items
    assert (opening.title, opening.start, opening.end) == ("Opening", "09:30", "09:40")
    assert opening.speakers == (ProgrammeSpeaker("Dr. Aliya Seitkali", "Moderator", "ru"),)
    assert bank.speakers[0] == ProgrammeSpeaker("Michael Turner", "ADB", "en", "floor")
    assert bank.speakers[1] == ProgrammeSpeaker("Sarah Lindqvist")
    assert (coffee.title, coffee.speakers, coffee.start) == ("Coffee break", (), "")
    assert not load_config().programme  # none by default


def test_the_demo_event_has_a_programme_with_a_language_for_every_speaker():
    cfg = load_config(REPO / "configs" / "cop_side_event.toml")
    titles = [item.title.lower() for item in cfg.programme.items]
    assert len(titles) >= 4 and "opening" in titles[0] and "question" in titles[-1]
    assert any("bank" in t for t in titles) and any("minister" in t for t in titles)
    speakers = [s for item in cfg.programme.items for s in item.speakers]
    assert {s.language for s in speakers} == {"ru", "en"}
    assert all(s.name and s.role for s in speakers)


@pytest.mark.parametrize("change, key, words", [
    ('start = "9:30"', "programme.items[0].start", "'9.30' is not a time of day"),
    ('end = "09:40"', "programme.items[0].end", "09:20 is not after the start, 09:30"),
    ('title = "Opening"', "programme.items[0].title", "an item needs a title"),
    ('language = "ru"', "programme.items[0].speakers[0].language", "'fr' (choose ru or en"),
    ('name = "Dr. Aliya Seitkali"', "programme.items[0].speakers[0].name",
     "a speaker needs a name"),
    ('input = ""', "programme.items[0].speakers[0].input",
     "'booth' is not a floor input (floor inputs: floor)"),
    ('role = "Moderator"', "programme.items[0].speakers[0].rol", "unknown key"),
])
def test_a_malformed_programme_is_one_line_naming_the_key(tmp_path, change, key, words):
    broken = {
        'start = "9:30"': 'start = "9.30"',
        'end = "09:40"': 'end = "09:20"',
        'title = "Opening"': 'title = " "',
        'language = "ru"': 'language = "fr"',
        'name = "Dr. Aliya Seitkali"': 'name = ""',
        'input = ""': 'input = "booth"',
        'role = "Moderator"': 'rol = "Moderator"',
    }[change]
    text = TOML.replace('language = "ru"', 'language = "ru"\ninput = ""', 1)
    path = write(tmp_path, text.replace(change, broken, 1))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = err.value.message
    assert message.startswith(f"{path}: {key}"), message
    assert words in message and "\n" not in message


CSV = """Title,Start,End,Name,Role,Language
Opening,9:30,09:40,Dr. Aliya Seitkali,Moderator,ru
Ministerial statements,09:40,10:10,H.E. Bakhtiyor Karimov,Minister of Water Resources,RU
,,,"H.E. Gulnara Asanova","Minister of Natural Resources, Ecology",ru
Ministerial statements,09:40,,H.E. Daniyar Omarov,Vice-Minister,ru

Coffee break,10:10,10:30,,,
"""


def test_a_programme_loads_from_a_csv_export():
    programme = parse_csv(CSV, "talks.csv")
    opening, statements, coffee = programme.items
    assert (opening.start, opening.speakers[0].name) == ("09:30", "Dr. Aliya Seitkali")
    # A row without a title, or repeating it, adds a speaker to the item before.
    assert [s.name for s in statements.speakers] == [
        "H.E. Bakhtiyor Karimov", "H.E. Gulnara Asanova", "H.E. Daniyar Omarov"]
    assert statements.speakers[1].role == "Minister of Natural Resources, Ecology"
    assert statements.speakers[0].language == "ru"  # any case
    assert (coffee.title, coffee.speakers) == ("Coffee break", ())


def test_a_csv_from_a_european_spreadsheet_loads_too(tmp_path):
    # Semicolons between cells, the byte-order mark Excel writes, other headings.
    text = "\ufeffItem;Speaker;Affiliation;Lang;Input\nQ&A;Michael Turner;ADB;en;floor\n"
    path = tmp_path / "programme.csv"
    path.write_bytes(text.encode("utf-8"))
    (item,) = load_csv(path, ["floor"]).items
    assert item == ProgrammeItem("Q&A", speakers=(
        ProgrammeSpeaker("Michael Turner", "ADB", "en", "floor"),))


@pytest.mark.parametrize("text, where", [
    ("Title,Name,Language\nOpening,A,fr\n", "row 2, column C (language): 'fr'"),
    ("Title,Start,Name\nOpening,9.30,A\n", "row 2, column B (start): '9.30' is not a time"),
    ("Title,Start,End\nOpening,10:00,09:00\n", "row 2, column C (end): 09:00 is not after"),
    ("Title,Name\n,A\n", "row 2, column A (title): the first item needs a title"),
    ("Title,Name,Role\nOpening,A,x\nOther,,Moderator\n",
     "row 3, column B (name): a speaker needs a name"),
    ("Title,Name,Input\nOpening,A,booth\n", "row 2, column C (input): 'booth' is not a floor"),
    ("Title,Nom\nOpening,A\n", "row 1, column B (nom): unknown column 'Nom'"),
    ("Name,Role\nA,B\n", "row 1: no title column"),
    ("Title,Name\nOpening,A,surplus\n", "row 2, column C: a value in a column without"),
    ("Title,Start,Name\nOpening,09:00,A\n,09:30,B\n",
     "row 3, column B (start): 09:30 differs from the item's 09:00"),
    ("", "row 1: no column headings"),
    ("Title,Name\n\"Opening,A\nOther,B\n", "line 3: not valid CSV (unexpected end of data)"),
    ("Title,,Name\nOpening,x,A\n", "row 2, column B: a value in a column without"),
])
def test_a_malformed_csv_row_is_one_line_naming_file_row_and_column(tmp_path, text, where):
    path = write(tmp_path, text, "talks.csv")
    with pytest.raises(ConfigError) as err:
        load_csv(path, ["floor"])
    assert err.value.message.startswith(f"{path}: {where}"), err.value.message
    assert "\n" not in err.value.message and err.value.hint


def test_empty_columns_of_a_spreadsheet_are_left_out():
    # Sheets often save a column or two without a heading: ";;" at the end of each row.
    text = "Title;Start;Name;;\nOpening;09:30;Dr. Aliya Seitkali;;\nQ&A;;;;\n"
    opening, questions = parse_csv(text, "talks.csv").items
    assert opening == ProgrammeItem("Opening", "09:30", speakers=(
        ProgrammeSpeaker("Dr. Aliya Seitkali"),))
    assert questions == ProgrammeItem("Q&A")
    assert parse_csv("Title,,Name\nOpening,,A\n").items[0].speakers[0].name == "A"


def test_names_roles_and_titles_are_kept_on_one_line(tmp_path):
    # A line break typed in a sheet's cell (Alt+Enter), tabs, a TOML string's "\n".
    csv_text = 'Title,Name,Role\n"Opening\nof the event","Dr. Aliya\nSeitkali",' \
        '"Moderator,\tCentral Asia Pavilion "\n'
    (item,) = parse_csv(csv_text, "talks.csv").items
    assert item == ProgrammeItem("Opening of the event", speakers=(
        ProgrammeSpeaker("Dr. Aliya Seitkali", "Moderator, Central Asia Pavilion"),))
    toml = TOML.replace('name = "Sarah Lindqvist"', 'name = "  Sarah\\nLindqvist\\u0007"')
    assert load_config(write(tmp_path, toml)).programme.items[1].speakers[1].name == \
        "Sarah Lindqvist"


def test_a_name_of_invisible_characters_is_no_name(tmp_path):
    (item,) = parse_csv("Title,Name\nOpening,\ufeffDr.\u200b Aliya\n", "talks.csv").items
    assert item.speakers[0].name == "Dr. Aliya"
    with pytest.raises(ConfigError, match=r"speakers\[1\]\.name: a speaker needs a name"):
        load_config(write(tmp_path, TOML.replace('name = "Sarah Lindqvist"',
                                                 'name = "\u200b\u2060"')))


def test_a_csv_that_cannot_be_read_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="programme file not found"):
        load_csv(tmp_path / "missing.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("Title\nCaf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_csv(latin)


def test_the_programme_as_data_comes_back_equal():
    programme = parse_csv(CSV, "talks.csv")
    assert programme_from_data(programme_to_data(programme)) == programme
    with pytest.raises(TypeError):
        programme_from_data([{"title": 5}])


def test_the_schedule_says_which_item_is_on():
    programme = parse_csv(CSV, "talks.csv")
    assert scheduled_item(programme, time(9, 0)) is None
    assert scheduled_item(programme, time(9, 30)) == 0
    assert scheduled_item(programme, time(9, 45)) == 1
    assert scheduled_item(programme, time(23, 0)) == 2
    assert scheduled_item(Programme((ProgrammeItem("No times"),)), time(12, 0)) is None


def test_a_spreadsheets_seconds_and_a_capitalised_language_are_understood(tmp_path):
    path = tmp_path / "talks.csv"
    path.write_text("Title,Start,End,Name,Language\nOpening,09:30:00,9:40:00,A,RU\n",
                    encoding="utf-8")
    (opening,) = load_csv(path).items
    assert (opening.start, opening.end) == ("09:30", "09:40")
    assert opening.speakers[0].language == "ru"
    cfg = load_config(write(tmp_path, TOML.replace('language = "ru"', 'language = "RU"')))
    assert cfg.programme.items[0].speakers[0].language == "ru"


def test_what_the_documents_show_of_an_item_and_a_speaker():
    assert item_when(ProgrammeItem("x", "09:30", "09:40")) == "09:30–09:40"
    assert item_when(ProgrammeItem("x", "09:30")) == "09:30"
    assert item_when(ProgrammeItem("x")) == ""
    assert speaker_label(ProgrammeSpeaker("A", "Moderator")) == "A, Moderator"
    assert speaker_label(ProgrammeSpeaker("A")) == "A"
