"""The DOCX document of a session's transcript: a header and a table aligned by time.

Pure: a :class:`~captioner.record.transcript.Transcript` in, the bytes of a ``.docx``
file out; :mod:`captioner.record.docexport` writes the file. It needs the
``python-docx`` package, imported only when a DOCX is asked for.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from captioner.errors import CaptionerError
from captioner.events import Caption, Status
from captioner.record.transcript import (
    LEGEND,
    SOURCE_LABELS,
    Transcript,
    gap_text,
    gap_time,
    header_facts,
    make_clock,
    programme_lines,
    speaker_heads,
    title_of,
)


@dataclass
class TableRow:
    """One row of the DOCX table: a time span and at most one caption per language."""

    start_s: float
    end_s: float
    cells: dict[str, Caption]


def align_rows(captions: Sequence[Caption], langs: Sequence[str]) -> list[TableRow]:
    """Groups captions into rows of one caption per language that overlap in time.

    A caption joins the current row when its language's cell is free and it starts
    before the row's captions end; otherwise it opens a new row.
    """
    rows: list[TableRow] = []
    for cap in captions:
        if cap.lang not in langs:
            continue
        row = rows[-1] if rows else None
        if row is not None and cap.lang not in row.cells and cap.start_s < row.end_s:
            row.cells[cap.lang] = cap
            row.end_s = max(row.end_s, cap.end_s)
        else:
            rows.append(TableRow(cap.start_s, max(cap.end_s, cap.start_s + 1e-3), {cap.lang: cap}))
    return rows


def render_docx(doc: Transcript, langs: Sequence[str], wall_clock: bool = False) -> bytes:
    """A DOCX transcript: a header and the programme, then a table Time | <lang> |
    <lang> aligned by time, each caption labelled with its source and, at a change of
    speaker in its column, headed by the speaker's name in bold; and notes where an
    input was lost."""
    try:
        import docx
        from docx.shared import Pt, RGBColor
    except ImportError:
        raise CaptionerError("DOCX export needs the python-docx package",
                             hint="pip install python-docx, or leave docx out of --format"
                             ) from None

    clock = make_clock(doc.started_at, wall_clock)
    document = docx.Document()
    document.core_properties.title = title_of(doc)
    if doc.started_at is not None:
        document.core_properties.created = doc.started_at
    document.add_heading(title_of(doc), level=0)
    for key, value in header_facts(doc, langs, wall_clock):
        para = document.add_paragraph()
        para.add_run(f"{key}: ").bold = True
        para.add_run(value)
    legend = document.add_paragraph()
    legend.add_run("Sources. ").bold = True
    legend.add_run(LEGEND).italic = True
    if doc.programme:
        document.add_heading("Programme", level=1)
        for item, names in programme_lines(doc.programme):
            document.add_paragraph().add_run(item).bold = True
            for name in names:
                document.add_paragraph(name, style="List Bullet")

    table = document.add_table(rows=1, cols=1 + len(langs))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, ["Time", *(lang.upper() for lang in langs)],
                          strict=True):
        cell.paragraphs[0].add_run(text).bold = True
    rows: list[tuple[float, TableRow | Status]] = [
        (r.start_s, r) for r in align_rows(doc.captions, langs)]
    rows.extend((gap_time(s, doc.started_at), s) for s in doc.gaps)
    rows.sort(key=lambda item: item[0])
    # A speaker is named where they change in a language's column.
    in_order = [cap for _, item in rows if not isinstance(item, Status)
                for lang in langs if (cap := item.cells.get(lang)) is not None]
    heads = dict(zip(map(id, in_order), speaker_heads(in_order), strict=True))
    for t_s, item in rows:
        cells = table.add_row().cells
        cells[0].text = clock(t_s)
        if isinstance(item, Status):
            merged = cells[1].merge(cells[-1]) if len(cells) > 2 else cells[1]
            merged.paragraphs[0].add_run(gap_text(item)).italic = True
            continue
        for col, lang in enumerate(langs, 1):
            cap = item.cells.get(lang)
            if cap is None:
                continue
            para = cells[col].paragraphs[0]
            head = heads[id(cap)]
            if head is not None:
                # The name, in bold, above the text.
                para.add_run(head.name).bold = True
                if head.role:
                    para.add_run(f", {head.role}").italic = True
                para = cells[col].add_paragraph()
            label = para.add_run(SOURCE_LABELS.get(cap.source, cap.source) + ": ")
            label.italic = True
            label.font.size = Pt(8)
            label.font.color.rgb = RGBColor(0x66, 0x66, 0x66)
            para.add_run(" ".join(cap.text.split()))
    if len(table.rows) == 1:
        document.add_paragraph("No committed captions.")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()
