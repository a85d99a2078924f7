from pathlib import Path

import pytest

from captioner.config import Config, load_config, parse_override
from captioner.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "venue.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_load_from_default_toml():
    cfg = load_config()
    assert isinstance(cfg, Config)
    assert cfg.asr.model == "whisper-base"
    assert cfg.asr.languages == ("ru", "en")
    assert cfg.captions.max_chars_ru == 39


def test_user_file_overrides_only_its_keys(tmp_path):
    cfg = load_config(write(tmp_path, "[asr]\nbeam_size = 3\n"))
    assert cfg.asr.beam_size == 3
    assert cfg.asr.model == "whisper-base"


def test_unknown_key_names_key_and_file(tmp_path):
    path = write(tmp_path, "[asr]\nbeam_sise = 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in err.value.message
    assert "asr.beam_sise" in err.value.message
    assert "unknown key" in err.value.message


def test_unknown_section_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="asrr: unknown key"):
        load_config(write(tmp_path, "[asrr]\nmodel = 'x'\n"))


def test_wrong_type_names_key_and_file(tmp_path):
    path = write(tmp_path, "[asr]\nbeam_size = 'five'\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in err.value.message
    assert "asr.beam_size: expected an integer, got 'five'" in err.value.message


def test_bool_is_not_an_int(tmp_path):
    with pytest.raises(ConfigError, match="asr.threads"):
        load_config(write(tmp_path, "[asr]\nthreads = true\n"))


def test_list_items_are_checked(tmp_path):
    with pytest.raises(ConfigError, match=r"asr.languages\[1\]"):
        load_config(write(tmp_path, "[asr]\nlanguages = ['ru', 5]\n"))


def test_unsupported_language_rejected(tmp_path):
    with pytest.raises(ConfigError, match="asr.languages"):
        load_config(write(tmp_path, "[asr]\nlanguages = ['ru', 'de']\n"))


def test_int_accepted_for_float(tmp_path):
    cfg = load_config(write(tmp_path, "[captions]\nmax_cps = 15\n"))
    assert cfg.captions.max_cps == 15.0 and isinstance(cfg.captions.max_cps, float)


def test_invalid_toml_names_file(tmp_path):
    path = write(tmp_path, "[asr\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_overrides():
    assert parse_override("asr.beam_size=5") == {"asr": {"beam_size": 5}}
    assert parse_override("asr.model=small") == {"asr": {"model": "small"}}
    cfg = load_config(overrides=["asr.language=ru", "asr.beam_size=2"])
    assert cfg.asr.language == "ru" and cfg.asr.beam_size == 2


def test_bad_override_says_set():
    with pytest.raises(ConfigError, match="--set: asr.beam_size"):
        load_config(overrides=["asr.beam_size=x"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("asr.beam_size")
