"""Argos packages run directly: loading, translating, errors, discovery, placeholders.

The tests use a tiny real Argos package that :mod:`captioner.routing.tiny_argos`
builds (a trained SentencePiece model and a one-layer CTranslate2 Transformer with
random weights): they prove loading, discovery, batching and error handling, not
quality.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from captioner.errors import ModelError
from captioner.routing.argos import (
    ArgosTranslator,
    argos_package_dirs,
    discover_packages,
    read_package,
)
from captioner.routing.glossary import protect, restore
from captioner.routing.tiny_argos import build_package_dir, zip_package
from captioner.routing.translate import Translator
from captioner.store.fetch import install_model
from captioner.store.models import ModelStore

GLOSSARY = {
    "climate finance": "климатическое финансирование",
    "climate": "климат",
    "UNDP": "ПРООН",
    "Central Asia": "Центральная Азия",
}


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """An unpacked tiny en->ru package, built once per session."""
    return build_package_dir(tmp_path_factory.mktemp("argos"), "en", "ru")


@pytest.fixture(scope="session")
def tiny_archive(tiny_dir, tmp_path_factory) -> Path:
    """The same package zipped as a .argosmodel."""
    return zip_package(tiny_dir, tmp_path_factory.mktemp("archive") / "translate-en_ru.argosmodel")


@pytest.fixture(scope="session")
def tiny(tiny_dir) -> ArgosTranslator:
    """The tiny package, loaded once."""
    return ArgosTranslator(read_package(tiny_dir), max_sentence_tokens=24)


@pytest.fixture
def no_argos_home(tmp_path, monkeypatch) -> Path:
    """Points Argos Translate's package folder at an empty folder of this test."""
    empty = tmp_path / "argos-home"
    empty.mkdir()
    monkeypatch.setenv("ARGOS_PACKAGES_DIR", str(empty))
    return empty


def copy_package(src: Path, dest: Path) -> Path:
    return Path(shutil.copytree(src, dest))


# --- loading and translating --------------------------------------------------------------


def test_tiny_package_loads_and_translates(tiny):
    assert isinstance(tiny, Translator)
    assert (tiny.from_code, tiny.to_code) == ("en", "ru")
    assert "en->ru" in tiny.name
    out = tiny.translate(["Good afternoon, ladies and gentlemen."])
    assert len(out) == 1 and isinstance(out[0], str) and out[0]


def test_warm_up_returns_seconds(tiny):
    assert tiny.warm_up() > 0


def test_batch_gives_one_output_per_input_in_order(tiny):
    texts = ["Good afternoon.", "Water resources in the region are shrinking.", "",
             "Thank you!", "Is anyone online? Yes, there is.", "   "]
    out = tiny.translate(texts)
    assert len(out) == len(texts)
    assert out[2] == "" and out[5] == ""
    assert all(out[i] for i in (0, 1, 3, 4))
    # The same batch in reverse order decodes to the same strings, reversed.
    assert tiny.translate(texts[::-1]) == out[::-1]
    assert tiny.translate([]) == []


def test_batch_bookkeeping_with_an_echo_model(tiny_dir):
    """Sentences of all texts go out as one batch and come back to their own text."""
    translator = ArgosTranslator(tiny_dir)
    calls = []

    class Echo:
        def translate_batch(self, batch, **options):
            calls.append((batch, options))
            return [type("R", (), {"hypotheses": [list(pieces)]})() for pieces in batch]

    translator._translator = Echo()
    texts = ["One. Two!", "", "Three?", "Four, five… six."]
    # SentencePiece's NFKC normalisation turns "…" into "...".
    assert translator.translate(texts) == ["One. Two!", "", "Three?", "Four, five... six."]
    (batch, options), = calls
    assert len(batch) == 5  # One. | Two! | Three? | Four, five… | six.
    assert 2 <= options["beam_size"] <= 4
    assert options["max_decoding_length"] <= 2 * max(len(p) for p in batch) + 10


def test_empty_model_output_gives_empty_string(tmp_path, caplog):
    pkg = build_package_dir(tmp_path, "en", "ru", logit_bias={"</s>": 100.0, "▁": 50.0})
    translator = ArgosTranslator(pkg)
    with caplog.at_level(logging.DEBUG, logger="captioner.routing.argos"):
        assert translator.translate(["Good afternoon.", "Thank you."]) == ["", ""]
    assert "empty translation" in caplog.text


def test_target_prefix_is_forced_and_stripped(tmp_path):
    pkg = build_package_dir(tmp_path, "en", "ru", metadata_extra={"target_prefix": "▁the"})
    translator = ArgosTranslator(pkg)
    assert translator.package.target_prefix == "▁the"
    seen = {}
    real = translator._translator

    class Spy:
        def translate_batch(self, batch, **options):
            seen.update(options)
            return real.translate_batch(batch, **options)

    translator._translator = Spy()
    (out,) = translator.translate(["Good afternoon."])
    assert seen["target_prefix"] == [["▁the"]]
    assert isinstance(out, str)


def test_long_input_is_split_into_bounded_segments(tiny):
    long = ("Water resources in the region are shrinking, so we need shared solutions, "
            "new investment in agriculture, better data and many more meetings like this "
            "one across Central Asia and beyond")
    segments = tiny.segments(long)
    assert len(segments) > 1
    assert all(0 < len(seg) <= tiny.max_sentence_tokens for seg in segments)
    # Nothing is lost: the segments decode back to the sentence.
    assert " ".join(tiny._sp.decode(seg) for seg in segments) == long
    (out,) = tiny.translate([long])
    assert out


def test_a_word_longer_than_the_limit_is_cut_by_tokens(tiny):
    word = "Z" * 200
    segments = tiny.segments(word)
    assert len(segments) > 1
    assert all(len(seg) <= tiny.max_sentence_tokens for seg in segments)


def test_sentences_are_translated_separately(tiny):
    assert len(tiny.segments("Good afternoon. Thank you! Is anyone online? Yes…")) == 4


# --- errors -------------------------------------------------------------------------------


def test_missing_model_dir_names_the_package(tiny_dir, tmp_path):
    pkg = copy_package(tiny_dir, tmp_path / "argos-en-ru")
    shutil.rmtree(pkg / "model")
    with pytest.raises(ModelError) as err:
        ArgosTranslator(read_package(pkg))
    assert str(pkg) in str(err.value)
    assert "model/model.bin" in str(err.value)
    assert "argos:en-ru --force" in err.value.hint
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_model_bin_is_a_model_error(tiny_dir, tmp_path, damage):
    pkg = copy_package(tiny_dir, tmp_path / "argos-en-ru")
    model = pkg / "model" / "model.bin"
    data = model.read_bytes()
    model.write_bytes(b"not a model" * 50 if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(ModelError) as err:
        ArgosTranslator(pkg)
    assert str(pkg) in str(err.value)
    assert "does not load" in str(err.value)
    assert "\n" not in str(err.value)
    assert "--force" in err.value.hint and "--from FILE" in err.value.hint


def test_missing_sentencepiece_model(tiny_dir, tmp_path):
    pkg = copy_package(tiny_dir, tmp_path / "argos-en-ru")
    (pkg / "sentencepiece.model").unlink()
    with pytest.raises(ModelError, match="sentencepiece.model is missing") as err:
        ArgosTranslator(pkg)
    assert str(pkg) in str(err.value)


def test_corrupt_sentencepiece_model(tiny_dir, tmp_path):
    pkg = copy_package(tiny_dir, tmp_path / "argos-en-ru")
    (pkg / "sentencepiece.model").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelError, match="sentencepiece.model does not load") as err:
        ArgosTranslator(pkg)
    assert str(pkg) in str(err.value)


def test_argospm_package_gets_an_argospm_hint(tiny_dir, tmp_path):
    pkg = copy_package(tiny_dir, tmp_path / "translate-en_ru-1_9")
    shutil.rmtree(pkg / "model")
    with pytest.raises(ModelError) as err:
        ArgosTranslator(read_package(pkg, origin="argos"))
    assert "argospm" in err.value.hint


def test_folder_without_metadata_is_no_package(tmp_path):
    with pytest.raises(ModelError, match="not an Argos package"):
        read_package(tmp_path)
    (tmp_path / "metadata.json").write_text('{"from_code": "en"}')
    with pytest.raises(ModelError, match="from_code/to_code"):
        read_package(tmp_path)


# --- discovery ----------------------------------------------------------------------------


def test_install_then_discover_then_translate(tiny_archive, tmp_path, no_argos_home):
    store = ModelStore(tmp_path / "store")
    model, already = install_model(store, "argos:en-ru", from_path=tiny_archive)
    assert not already
    (pkg,) = discover_packages(store.root)
    assert pkg.path == model.path and pkg.origin == "store"
    assert (pkg.from_code, pkg.to_code, pkg.version) == ("en", "ru", "0.0-tiny")
    translator = ArgosTranslator(pkg)
    translator.warm_up()
    assert len(translator.translate(["Good afternoon.", "Thank you."])) == 2


def test_discovers_argos_packages_dir_and_store_wins(tmp_path, tiny_dir, monkeypatch):
    store = tmp_path / "store"
    copy_package(tiny_dir, store / "argos-en-ru")
    (store / "whisper-base").mkdir()
    (store / ".staging-argos-ru-en-x").mkdir()
    argos_home = tmp_path / "argos-packages"
    copy_package(tiny_dir, argos_home / "translate-en_ru-1_9")  # shadowed by the store
    ru_en = build_package_dir(argos_home, "ru", "en")
    sbd = argos_home / "sbd"
    sbd.mkdir()
    (sbd / "metadata.json").write_text(json.dumps({"type": "sbd", "from_code": "xx",
                                                   "to_code": "xx"}))
    (argos_home / "broken").mkdir()
    (argos_home / "broken" / "metadata.json").write_text("{not json")
    monkeypatch.setenv("ARGOS_PACKAGES_DIR", str(argos_home))

    found = discover_packages(store)
    assert [(p.direction, p.origin) for p in found] == [("en->ru", "store"), ("ru->en", "argos")]
    assert found[0].path == store / "argos-en-ru"
    assert found[1].path == ru_en


def test_extra_dirs_and_explicit_argos_dirs(tmp_path, tiny_dir, no_argos_home):
    extra = tmp_path / "extra"
    copy_package(tiny_dir, extra / "pkg")
    (found,) = discover_packages(tmp_path / "no-store", extra_dirs=[extra])
    assert found.origin == "argos"
    assert discover_packages(tmp_path / "no-store", argos_dirs=[]) == []
    assert discover_packages(tmp_path / "no-store") == []


def test_argos_package_dir_follows_argos_settings(tmp_path, monkeypatch):
    for var in ("ARGOS_PACKAGES_DIR", "ARGOS_TRANSLATE_PACKAGES_DIR", "XDG_DATA_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert argos_package_dirs() == [tmp_path / ".local/share/argos-translate/packages"]
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert argos_package_dirs() == [tmp_path / "xdg/argos-translate/packages"]
    monkeypatch.setenv("ARGOS_TRANSLATE_PACKAGES_DIR", str(tmp_path / "legacy"))
    assert argos_package_dirs() == [tmp_path / "legacy"]
    monkeypatch.setenv("ARGOS_PACKAGES_DIR", str(tmp_path / "new"))
    assert argos_package_dirs() == [tmp_path / "new"]


# --- glossary placeholders through the engine -----------------------------------------


def test_placeholders_survive_the_sentencepiece_round_trip(tiny):
    """Placeholders tokenize into known pieces and decode back unchanged."""
    sp = tiny._sp
    text, ph = protect("We discuss climate finance with UNDP in Central Asia.", GLOSSARY)
    pieces = sp.encode(text, out_type=str)
    assert all(sp.piece_to_id(p) != sp.unk_id() for p in pieces)
    assert restore(sp.decode(pieces), ph) == (
        "We discuss климатическое финансирование with ПРООН in Центральная Азия.")
    # A bracket placeholder would rest on <unk> and CTranslate2's replace_unknowns.
    assert any(sp.piece_to_id(p) == sp.unk_id() for p in sp.encode("⟦1⟧", out_type=str))


class _Echo:
    """A CTranslate2 stand-in that translates every sentence into its own pieces."""

    def translate_batch(self, batch, **options):
        return [type("R", (), {"hypotheses": [list(pieces)]})() for pieces in batch]


def test_protected_text_goes_through_the_engine(tiny_dir):
    # The tiny model's random weights never copy a placeholder, so its output would
    # say nothing about restore; an echo keeps the engine's SentencePiece encoding,
    # sentence split and decoding, and lets the placeholders come back as they went.
    translator = ArgosTranslator(tiny_dir)
    translator._translator = _Echo()
    source = "Climate finance matters. UNDP works in Central Asia, on climate."
    text, ph = protect(source, GLOSSARY)
    assert text == "XQ1Z matters. XQ2Z works in XQ3Z, on XQ4Z."
    (out,) = translator.translate([text])
    assert out == text
    assert restore(out, ph) == ("климатическое финансирование matters. ПРООН works in "
                                "Центральная Азия, on климат.")
