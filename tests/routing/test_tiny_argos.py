"""The tiny random Argos package builder the tests and the benchmarks share."""

from __future__ import annotations

from captioner.routing.tiny_argos import build_argosmodel


def test_build_argosmodel_has_one_top_folder(tmp_path):
    import zipfile

    archive = build_argosmodel(tmp_path, "ru", "en")
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    assert {n.split("/", 1)[0] for n in names} == {"translate-ru_en-tiny"}
    assert "translate-ru_en-tiny/model/model.bin" in names
