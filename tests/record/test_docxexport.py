"""captioner.record.docxexport: the DOCX document."""

from __future__ import annotations

import pytest

from captioner.record.docexport import export_session, load_transcript
from captioner.record.session import SessionDir
from tests.sessiontools import Maker, conference, exported, make_session


@pytest.fixture
def session(tmp_path) -> SessionDir:
    return make_session(tmp_path / "sessions", conference(Maker()))


def test_docx_opens_and_holds_the_transcript(session):
    import docx

    export_session(session.path, formats=("docx",))
    document = docx.Document(str(exported(session, ".docx")))
    body = "\n".join(p.text for p in document.paragraphs)
    assert "Климат и вода" in body and "2025-05-01" in body
    table = document.tables[0]
    assert [c.text for c in table.rows[0].cells] == ["Time", "RU", "EN"]
    cells = "\n".join(c.text for r in table.rows for c in r.cells)
    doc, _ = load_transcript(session)
    for cap in doc.captions:
        assert cap.text in cells
    assert "floor: " in cells and "machine translation: " in cells
    assert "interpretation: " in cells
    assert "booth input lost" in cells
    first = table.rows[1].cells
    assert first[0].text == "00:00:01"
    assert first[1].text.startswith("floor: ") and first[2].text.startswith(
        "machine translation: ")
