"""The locked installs (requirements/*.lock): complete, hashed, one resolution, installed."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: str | None
    hashes: tuple[str, ...]

    def applies(self) -> bool:
        return self.marker is None or Marker(self.marker).evaluate()


def read_lock(path: Path) -> dict[str, list[Pin]]:
    """Pins of a pip requirements file with hashes, by canonical name (a package may be
    pinned twice, under exclusive markers)."""
    pins: dict[str, list[Pin]] = {}
    current: list | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if match := PIN.match(line):
            name, version, marker = match.groups()
            current = [canonicalize_name(name), version, marker, []]
            pins.setdefault(current[0], []).append(current)
        elif stripped.startswith("--hash=sha256:") and current is not None:
            current[3].append(stripped.removeprefix("--hash=sha256:").rstrip(" \\"))
        elif stripped and not stripped.startswith("#"):
            raise AssertionError(f"{path.name}: unexpected line {line!r}")
    return {name: [Pin(n, v, m, tuple(h)) for n, v, m, h in entries]
            for name, entries in pins.items()}


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


RUN = read_lock(REPO / "requirements" / "run.lock")
TEST = read_lock(REPO / "requirements" / "test.lock")


def test_the_parser_reads_a_pin_its_marker_and_its_hashes(tmp_path):
    lock = tmp_path / "x.lock"
    lock.write_text("numpy==2.4.6 ; python_full_version < '3.12' \\\n"
                    "    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via captioner\n"
                    "tqdm==4.70.1 \\\n    --hash=sha256:cc\n")
    assert read_lock(lock) == {
        "numpy": [Pin("numpy", "2.4.6", "python_full_version < '3.12'", ("aa", "bb"))],
        "tqdm": [Pin("tqdm", "4.70.1", None, ("cc",))]}


@pytest.mark.parametrize("lock, groups", [(RUN, ("dependencies",)),
                                          (TEST, ("dependencies", "test"))])
def test_every_declared_dependency_is_pinned_within_its_range(lock, groups):
    meta = project()
    declared = [Requirement(r) for g in groups
                for r in (meta["dependencies"] if g == "dependencies"
                          else meta["optional-dependencies"][g])]
    for req in declared:
        pins = lock.get(canonicalize_name(req.name))
        assert pins, f"{req.name} is declared in pyproject.toml but not locked"
        for pin in pins:
            assert req.specifier.contains(pin.version, prereleases=True), (
                f"{req.name}=={pin.version} is outside {req.specifier}: run scripts/lock.sh")


@pytest.mark.parametrize("lock", [RUN, TEST], ids=["run", "test"])
def test_every_pin_carries_hashes(lock):
    for pins in lock.values():
        for pin in pins:
            assert pin.hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in pin.hashes), pin


def test_running_and_testing_install_the_same_versions():
    assert set(RUN) <= set(TEST)
    for name, pins in RUN.items():
        assert [(p.version, p.marker) for p in pins] == [
            (p.version, p.marker) for p in TEST[name]], name


def test_this_environment_is_the_locked_one():
    """What the suite runs on is what CI runs on: scripts/setup.sh installs the lock."""
    off = []
    for name, pins in TEST.items():
        for pin in pins:
            if not pin.applies():
                continue
            try:
                installed = metadata.version(name)
            except metadata.PackageNotFoundError:
                off.append(f"{name} (locked {pin.version}) is not installed")
                continue
            if installed != pin.version:
                off.append(f"{name} {installed} installed, {pin.version} locked")
    assert not off, "run scripts/setup.sh --test: " + "; ".join(off)
