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


def test_the_bus_is_off_by_default():
    bus = load_config().bus
    assert bus.url == "" and bus.room == "" and bus.replicas == 1
    assert bus.max_age_days == 30.0 and bus.max_bytes == 1024 ** 3


def test_a_bus_section_loads(tmp_path):
    cfg = load_config(write(tmp_path, '[bus]\nurl = "tls://bus.venue:4222"\n'
                                      'room = "pavilion-a"\nuser = "pavilion-a"\n'
                                      'password = "pw"\nca_file = "/etc/ca.pem"\n'
                                      "max_age_days = 7\nmax_bytes = 0\nreplicas = 3\n"))
    assert cfg.bus.url == "tls://bus.venue:4222" and cfg.bus.room == "pavilion-a"
    assert cfg.bus.max_age_days == 7.0 and cfg.bus.max_bytes == 0 and cfg.bus.replicas == 3
    assert "pw" not in repr(cfg.bus)


@pytest.mark.parametrize("body, key, words", [
    ('url = "http://bus:4222"', "bus.url", "nats:// or tls://"),
    ('url = "nats://u:hunter22@bus:4222/x"', "bus.url", "u:***@bus"),
    ('room = "Pavilion A"', "bus.room", "lowercase letters"),
    ('password = "pw"', "bus.password", "needs bus.user"),
    ('token = "t"\nuser = "u"', "bus.token", "alone"),
    ('creds = "a.creds"\nnkey = "a.nk"', "bus.nkey", "not both"),
    ("max_age_days = -1", "bus.max_age_days", "0 (no age limit)"),
    ("max_bytes = -5", "bus.max_bytes", "0 (no size limit)"),
    ("replicas = 7", "bus.replicas", "from 1 to 5"),
    ("max_bytes = 1.5", "bus.max_bytes", "expected an integer"),
    ("servers = 1", "bus.servers", "unknown key"),
])
def test_a_malformed_bus_key_is_named(tmp_path, body, key, words):
    path = write(tmp_path, f"[bus]\n{body}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}: {key}" in err.value.message and words in err.value.message
    assert "hunter22" not in err.value.message


def test_a_secret_of_the_wrong_type_is_not_repeated(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "[bus]\nuser = 'u'\npassword = 123456789\n"))
    assert "bus.password: expected a string" in err.value.message
    assert "123456789" not in err.value.message
