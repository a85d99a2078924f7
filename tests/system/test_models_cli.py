"""`captioner models` against the real whisper-base install."""

import os
import resource
import shutil
import signal
import subprocess
import sys

import pytest

from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.integration


def test_second_install_is_a_quick_noop(model_dir):
    done = run_cli("models", "install", "whisper-base")
    assert done.returncode == 0, done.stderr
    assert "already installed" in done.stdout


def test_list_shows_the_installed_model(model_dir):
    done = run_cli("models", "list")
    assert done.returncode == 0
    row = next(line for line in done.stdout.splitlines() if line.startswith("whisper-base"))
    assert "installed" in row and "pinned sha256" in row and "MB" in row


def test_verify_catches_a_corrupted_model_bin(model_dir, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(model_dir, store / "whisper-base")
    env = {"CAPTIONER_MODELS": str(store)}
    ok = run_cli("models", "verify", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "whisper-base: ok" in ok.stdout
    with (store / "whisper-base" / "model.bin").open("r+b") as fh:
        fh.seek(10_000_000)
        byte = fh.read(1)
        fh.seek(10_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    bad = run_cli("models", "verify", env=env)
    assert bad.returncode == 1
    assert "whisper-base: DAMAGED" in bad.stdout
    assert "model.bin: sha256 mismatch" in bad.stdout
    with (store / "whisper-base" / "model.bin").open("r+b") as fh:
        fh.truncate(1000)
    bad = run_cli("models", "verify", env=env)
    assert "truncated" in bad.stdout
    # A damaged model is refused at load time with a hint, not loaded.
    load = run_cli("transcribe", "x.wav", env=env)
    assert load.returncode == 1
    assert "is damaged" in load.stderr and "Traceback" not in load.stderr


def test_unknown_model_lists_known_names():
    done = run_cli("models", "install", "whisper-gigantic")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == "captioner: error: unknown model 'whisper-gigantic'"
    assert lines[1].startswith("hint: known models: whisper-tiny, whisper-base")


def test_no_network_names_the_source_and_the_file_route(tmp_path):
    # Port 9 on loopback refuses connections: the same failure as a venue without internet.
    env = {"CAPTIONER_MODELS": str(tmp_path),
           "CAPTIONER_ARGOS_INDEX": "http://127.0.0.1:9/index.json"}
    done = run_cli("models", "install", "argos:ru-en", env=env)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "Argos package index" in done.stderr
    assert "--from FILE" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_one_line_and_installs_nothing(model_dir, tmp_path):
    store = tmp_path / "store"

    def small_files() -> None:  # a disk that fills up after 8 MB of any one file
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 20, resource.RLIM_INFINITY))

    done = subprocess.run(
        [sys.executable, "-m", "captioner", "models", "install", "whisper-base", "--from",
         str(model_dir)], cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "CAPTIONER_MODELS": str(store)}, preexec_fn=small_files)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "could not be written to the model store" in done.stderr
    assert "nothing was installed" in done.stderr and "Traceback" not in done.stderr
    assert not (store / "whisper-base").exists()
    # No partial files are left behind either (the staging folder is removed).
    assert not store.exists() or [p.name for p in store.iterdir()] == []
