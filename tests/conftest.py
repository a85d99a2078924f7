"""Shared fixtures: the real Whisper model, and speech the suite synthesises itself."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from captioner.store.models import ModelStore, default_root

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Clip:
    """A synthesised clip and what was said in it."""

    path: Path
    lang: str
    text: str


# What the synthesised clips say: sentences of the kind heard at a climate side event.
SCRIPTS = {
    "ru_welcome": ("ru", "Добрый день, уважаемые коллеги. Сегодня мы обсуждаем изменение "
                         "климата в Центральной Азии и сотрудничество между нашими странами."),
    "ru_water": ("ru", "Водные ресурсы региона сокращаются, поэтому нам нужны общие решения "
                       "и новые инвестиции в сельское хозяйство."),
    "en_welcome": ("en", "Good afternoon, ladies and gentlemen. Today we will discuss climate "
                         "finance for Central Asia and the role of development banks."),
    "en_water": ("en", "Water resources in the region are shrinking, so we need shared "
                       "solutions and new investment in agriculture."),
}


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The installed whisper-base model (scripts/setup.sh installs it)."""
    store = ModelStore(default_root())
    model = store.get("whisper-base")
    if model is None:
        pytest.fail("whisper-base is not installed: run scripts/setup.sh "
                    "(or: captioner models install whisper-base)")
    return model.path


@pytest.fixture(scope="session")
def engine(model_dir):
    """One loaded Whisper base model for the whole test session."""
    from captioner.recognition.asr import WhisperEngine, choose_placement

    return WhisperEngine(model_dir, choose_placement("cpu"), ("ru", "en"))


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Clip]:
    """Every clip of :data:`SCRIPTS`, synthesised once per test session."""
    from captioner.synth import speak

    folder = tmp_path_factory.mktemp("speech")
    return {
        name: Clip(speak(text, lang, folder / f"{name}.wav"), lang, text)
        for name, (lang, text) in SCRIPTS.items()
    }


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs ``python -m captioner ARGS`` as a user would, capturing its output."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "captioner", *args], cwd=cwd or REPO,
                          capture_output=True, text=True, env=full_env, timeout=timeout)
