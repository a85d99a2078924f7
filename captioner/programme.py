"""The event programme: its items, who speaks in each, and the programme as data. Pure.

A programme comes from ``[[programme.items]]`` in the TOML config (validated with the
rest of it by :mod:`captioner.config`) or from a CSV file an organiser exported from a
spreadsheet (:func:`load_csv`, ``captioner run --programme FILE.csv``)::

    [[programme.items]]
    title = "Opening of the session"
    start = "15:00"
    end = "15:10"
    [[programme.items.speakers]]
    name = "H.E. Zulfiya Suleimenova"
    role = "Special Representative of the President for International Environmental Cooperation"
    language = "ru"

The operator picks the speaker on the floor from the current item's speakers; the
speaker's declared ``language`` is a hint for language identification, and ``input``
restricts the name to the captions of one floor input (a speaker at their own lectern
microphone). Nothing here does I/O but :func:`load_csv`'s one read of its file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import time
from pathlib import Path
from typing import Any

from captioner.errors import ConfigError
from captioner.events import Speaker
from captioner.languages import LANGUAGES

#: Longest name, role and title, in characters (what fits a paragraph heading).
MAX_NAME_CHARS = 80
MAX_ROLE_CHARS = 120
MAX_TITLE_CHARS = 120

# Spreadsheets write a time of day with its seconds (15:00:00): they are left out.
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::[0-5]\d)?$")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# Invisible characters a copy from a web page or a document brings along: a name made of
# them alone would head paragraphs and cues with nothing to read.
_INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad]")


@dataclass(frozen=True, slots=True)
class ProgrammeSpeaker:
    """One speaker of a programme item.

    Attributes:
        name: As the screens and the transcript show it.
        role: Role or affiliation; may be empty.
        language: ``ru`` or ``en``, the language they are expected to speak (a hint for
            language identification); empty when not declared.
        input: The floor input they speak on; empty: any floor input.
    """

    name: str = ""
    role: str = ""
    language: str = ""
    input: str = ""

    @property
    def speaker(self) -> Speaker:
        """The speaker as a caption carries it (name and role)."""
        return Speaker(self.name, self.role)


@dataclass(frozen=True, slots=True)
class ProgrammeItem:
    """One item of the programme: a title, its scheduled times and its speakers.

    Attributes:
        title: ``Opening of the session``, ``Q&A``...
        start: Scheduled start, ``HH:MM`` local time of the venue; empty if not scheduled.
        end: Scheduled end, ``HH:MM``; may be empty.
        speakers: Who speaks, in the programme's order (the console's keys 1-9).
    """

    title: str = ""
    start: str = ""
    end: str = ""
    speakers: tuple[ProgrammeSpeaker, ...] = ()


@dataclass(frozen=True, slots=True)
class Programme:
    """The event programme, in order (empty: none)."""

    items: tuple[ProgrammeItem, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.items)

    def item(self, index: int | None) -> ProgrammeItem | None:
        """The item at ``index``, or None when there is none."""
        if index is None or not 0 <= index < len(self.items):
            return None
        return self.items[index]


#: The console's "other / audience question": someone the programme does not name.
OTHER_SPEAKER = ProgrammeSpeaker(name="Question from the floor / Вопрос из зала")


# -- checking -------------------------------------------------------------------------------


def one_line(text: str) -> str:
    """``text`` as one line: a sheet's cell may hold a line break (Alt+Enter), and a name
    heads a paragraph, a subtitle cue or a line of the exports. Control characters go,
    runs of white space become one space; invisible characters (zero-width spaces and
    joiners, soft hyphens, a byte-order mark) are left out."""
    return " ".join(_CONTROL_CHARS.sub(" ", _INVISIBLE.sub("", text)).split())


def _one_line_item(item: ProgrammeItem) -> ProgrammeItem:
    return replace(item, title=one_line(item.title), speakers=tuple(
        replace(s, name=one_line(s.name), role=one_line(s.role),
                language=s.language.strip().lower()) for s in item.speakers))


def parse_time(text: str) -> str:
    """A time of day as ``HH:MM`` (``9:30`` -> ``09:30``, ``15:00:00`` -> ``15:00``);
    empty stays empty.

    Raises:
        ValueError: not a time of day.
    """
    text = text.strip()
    if not text:
        return ""
    found = _TIME.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a time of day (write HH:MM, e.g. 09:30)")
    return f"{int(found.group(1)):02d}:{found.group(2)}"


def _speaker_problem(speaker: ProgrammeSpeaker, floor_inputs: Sequence[str] | None
                     ) -> tuple[str, str] | None:
    """(key, problem) of a speaker that is not valid, else None."""
    if not speaker.name.strip():
        return "name", "a speaker needs a name"
    if len(speaker.name) > MAX_NAME_CHARS:
        return "name", f"longer than {MAX_NAME_CHARS} characters"
    if len(speaker.role) > MAX_ROLE_CHARS:
        return "role", f"longer than {MAX_ROLE_CHARS} characters"
    if speaker.language and speaker.language not in LANGUAGES:
        return "language", f"{speaker.language!r} (choose {' or '.join(LANGUAGES)}, or leave " \
            "it empty)"
    if speaker.input and floor_inputs is not None and speaker.input not in floor_inputs:
        known = ", ".join(floor_inputs) or "none"
        return "input", f"{speaker.input!r} is not a floor input (floor inputs: {known})"
    return None


def _item_problem(item: ProgrammeItem) -> tuple[str, str] | None:
    if not item.title.strip():
        return "title", "an item needs a title"
    if len(item.title) > MAX_TITLE_CHARS:
        return "title", f"longer than {MAX_TITLE_CHARS} characters"
    for key in ("start", "end"):
        try:
            parse_time(getattr(item, key))
        except ValueError as exc:
            return key, str(exc)
    start, end = parse_time(item.start), parse_time(item.end)
    if start and end and end <= start:
        return "end", f"{end} is not after the start, {start}"
    return None


def check_programme(programme: Programme, floor_inputs: Sequence[str] | None = None,
                    where: str = "programme") -> Programme:
    """Validates a programme from the config; returns it with times written ``HH:MM``
    and titles, names and roles on one line (:func:`one_line`).

    Args:
        programme: As the config loader built it.
        floor_inputs: The ids of the floor inputs a speaker's ``input`` may name (None:
            not checked).
        where: The dotted key the programme is at, for the messages.

    Raises:
        ConfigError: naming the dotted key at fault, e.g.
            ``programme.items[2].speakers[0].language: 'fr' (choose ru or en...)``.
    """
    items = []
    for n, item in enumerate(map(_one_line_item, programme.items)):
        problem = _item_problem(item)
        if problem is not None:
            raise ConfigError(f"{where}.items[{n}].{problem[0]}: {problem[1]}")
        for k, speaker in enumerate(item.speakers):
            problem = _speaker_problem(speaker, floor_inputs)
            if problem is not None:
                raise ConfigError(f"{where}.items[{n}].speakers[{k}].{problem[0]}: "
                                  f"{problem[1]}")
        items.append(replace(item, start=parse_time(item.start), end=parse_time(item.end)))
    return Programme(tuple(items))


# -- a CSV from a spreadsheet ---------------------------------------------------------------

#: CSV column headings (any case) and the field each fills.
CSV_COLUMNS = {"title": "title", "item": "title", "start": "start", "end": "end",
               "name": "name", "speaker": "name", "role": "role", "affiliation": "role",
               "language": "language", "lang": "language", "input": "input"}


def _column(index: int) -> str:
    """A spreadsheet's column letter: 0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _delimiter(first_line: str) -> str:
    # Spreadsheets in Russian (and most European) locales write ";" between cells.
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def parse_csv(text: str, name: str = "programme.csv",
              floor_inputs: Sequence[str] | None = None) -> Programme:
    """A programme from CSV text: one row per speaker, items in order.

    The first row names the columns: ``title`` (required), ``start``, ``end``,
    ``name``, ``role``, ``language``, ``input`` (also ``item``, ``speaker``,
    ``affiliation``, ``lang``), in any order and case; a column without a heading is
    left out (it must then be empty). A row with a title starts an
    item, unless it repeats the title (and start) of the item before; a row without
    one adds its speaker to the item before. A row with a title and no name is an item
    without speakers (a coffee break). Cells are separated by ``,``, ``;`` or tabs.

    Args:
        text: The file's text.
        name: The file, for the messages.
        floor_inputs: The floor inputs a speaker's ``input`` may name (None: unchecked).

    Raises:
        ConfigError: one line naming the file, the row and the column, e.g.
            ``talks.csv: row 4, column F (language): 'fr' (choose ru or en...)``.
    """
    lines = text.splitlines()
    # Strict: a quote that is never closed is an error, not the rest of the file read
    # into one cell.
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(lines[0] if lines else ""),
                        strict=True)
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise ConfigError(f"{name}: line {reader.line_num}: not valid CSV ({exc})",
                          'a cell that opens with a quote (") must close with one, and '
                          "the quote must end the cell: save the sheet as CSV again") \
            from None

    def fail(row: int, col: int | None, problem: str) -> ConfigError:
        where = f"row {row}" if col is None else \
            f"row {row}, column {_column(col)} ({heading[col] if col < len(heading) else ''})"
        return ConfigError(f"{name}: {where.replace(' ()', '')}: {problem}",
                           "columns: title, start, end, name, role, language, input")

    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ConfigError(f"{name}: row 1: no column headings",
                          "the first row names the columns: title, start, end, name, role, "
                          "language, input")
    heading = [cell.strip().lower() for cell in rows[0]]
    fields: list[str | None] = []  # None: a column without a heading (sheets save some)
    for col, title in enumerate(heading):
        if not title:
            fields.append(None)
            continue
        if title not in CSV_COLUMNS:
            raise fail(1, col, f"unknown column {rows[0][col].strip()!r}")
        if CSV_COLUMNS[title] in fields:
            raise fail(1, col, f"a second {CSV_COLUMNS[title]} column")
        fields.append(CSV_COLUMNS[title])
    if "title" not in fields:
        raise ConfigError(f"{name}: row 1: no title column",
                          "the first row names the columns: title, start, end, name, role, "
                          "language, input")
    items: list[ProgrammeItem] = []
    for number, cells in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in cells):
            continue
        for col, cell in enumerate(cells):
            if cell.strip() and (col >= len(fields) or fields[col] is None):
                raise fail(number, col, "a value in a column without a heading")
        row = {field: one_line(cells[col]) if col < len(cells) else ""
               for col, field in enumerate(fields) if field is not None}
        items = _add_row(items, row, lambda field, problem, n=number: fail(
            n, fields.index(field) if field in fields else None, problem), floor_inputs)
    return Programme(tuple(items))


def _add_row(items: list[ProgrammeItem], row: Mapping[str, str], fail,
             floor_inputs: Sequence[str] | None) -> list[ProgrammeItem]:
    """The items after one CSV row (see :func:`parse_csv`)."""
    times = {}
    for key in ("start", "end"):
        try:
            times[key] = parse_time(row.get(key, ""))
        except ValueError as exc:
            raise fail(key, str(exc)) from None
    title = row["title"]
    last = items[-1] if items else None
    same = last is not None and title == last.title and times["start"] in ("", last.start)
    if title and not same:
        item = ProgrammeItem(title, times["start"], times["end"])
        problem = _item_problem(item)
        if problem is not None:
            raise fail(problem[0], problem[1])
        items = [*items, item]
    elif last is None:
        raise fail("title", "the first item needs a title")
    else:
        for key in ("start", "end"):
            if times[key] and times[key] != getattr(last, key):
                known = getattr(last, key) or "none"
                raise fail(key, f"{times[key]} differs from the item's {known} (a row "
                           f"without a title adds a speaker to {last.title!r})")
    speaker = ProgrammeSpeaker(row.get("name", ""), row.get("role", ""),
                               row.get("language", "").lower(), row.get("input", ""))
    if speaker == ProgrammeSpeaker():
        return items
    problem = _speaker_problem(speaker, floor_inputs)
    if problem is not None:
        raise fail(problem[0], problem[1])
    current = items[-1]
    return [*items[:-1], replace(current, speakers=(*current.speakers, speaker))]


def load_csv(path: str | Path, floor_inputs: Sequence[str] | None = None) -> Programme:
    """Reads a programme CSV (UTF-8, with or without the byte-order mark Excel writes).

    Raises:
        ConfigError: the file cannot be read, or a row is malformed (see
            :func:`parse_csv`).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: programme file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text",
                          "save the sheet as \"CSV UTF-8\"") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the programme ({exc.strerror or exc})") \
            from None
    return parse_csv(text, str(path), floor_inputs)


# -- as data (the bus, the console, the session folder) ------------------------------------


def speaker_to_data(speaker: ProgrammeSpeaker) -> dict[str, str]:
    return {"name": speaker.name, "role": speaker.role, "language": speaker.language,
            "input": speaker.input}


def speaker_from_data(data: Mapping[str, Any]) -> ProgrammeSpeaker:
    """The inverse of :func:`speaker_to_data`.

    Raises:
        TypeError, KeyError: not a speaker.
    """
    return ProgrammeSpeaker(*(_str(data.get(key, "")) for key in
                              ("name", "role", "language", "input")))


def programme_to_data(programme: Programme) -> list[dict[str, Any]]:
    """The programme as JSON data: a list of items with their speakers."""
    return [{"title": i.title, "start": i.start, "end": i.end,
             "speakers": [speaker_to_data(s) for s in i.speakers]} for i in programme.items]


def programme_from_data(data: Iterable[Mapping[str, Any]]) -> Programme:
    """The inverse of :func:`programme_to_data`.

    Raises:
        TypeError, KeyError, AttributeError: not a programme.
    """
    return Programme(tuple(
        ProgrammeItem(_str(i["title"]), _str(i.get("start", "")), _str(i.get("end", "")),
                      tuple(speaker_from_data(s) for s in i.get("speakers", ())))
        for i in data))


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {value!r}")
    return value


# -- the schedule and the documents ---------------------------------------------------------


def scheduled_item(programme: Programme, now: time) -> int | None:
    """The item the schedule says is on at ``now`` (local time of day): the last one that
    has started; None before the first start, or when no item has a start time."""
    on = None
    for n, item in enumerate(programme.items):
        if item.start and parse_time(item.start) <= f"{now.hour:02d}:{now.minute:02d}":
            on = n
    return on


def item_when(item: ProgrammeItem) -> str:
    """``15:00–15:10``, ``15:00``, or empty when not scheduled."""
    if item.start and item.end:
        return f"{item.start}–{item.end}"
    return item.start or (f"until {item.end}" if item.end else "")


def speaker_label(speaker: Speaker | ProgrammeSpeaker) -> str:
    """``Name, role`` (or the name alone)."""
    return f"{speaker.name}, {speaker.role}" if speaker.role else speaker.name
