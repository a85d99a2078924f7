"""Synthesised speech for tests, benchmarks and the demo recording.

Russian comes from festival with the festvox-ru voice (Whisper transcribes it almost
exactly); English from espeak-ng. Both are Debian packages (``festival festvox-ru
espeak-ng``); nothing here is needed at run time.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from captioner.errors import CaptionerError
from captioner.events import SAMPLE_RATE
from captioner.inputs.audio import decode_file


def _need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise CaptionerError(f"{tool} is not installed", hint=f"apt-get install {package}")
    return path


def speak(text: str, lang: str, out: Path) -> Path:
    """Speaks ``text`` in ``lang`` (``ru`` or ``en``) into the WAV file ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if lang == "ru":
        tool = _need("text2wave", "festival festvox-ru")
        with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8",
                                         delete=False) as fh:
            fh.write(text)
            src = fh.name
        try:
            subprocess.run([tool, "-eval", "(voice_msu_ru_nsh_clunits)", src, "-o", str(out)],
                           check=True, capture_output=True)
        finally:
            Path(src).unlink(missing_ok=True)
    elif lang == "en":
        tool = _need("espeak-ng", "espeak-ng")
        subprocess.run([tool, "-v", "en-us", "-s", "150", "-w", str(out), text],
                       check=True, capture_output=True)
    else:
        raise ValueError(f"no voice for {lang!r}")
    return out


def speak_samples(text: str, lang: str) -> np.ndarray:
    """Speaks ``text`` and returns 16 kHz mono float32 samples."""
    with tempfile.TemporaryDirectory() as tmp:
        return decode_file(speak(text, lang, Path(tmp) / "speech.wav"))


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """Writes mono or (frames, channels) float32 samples as 16-bit PCM WAV."""
    import wave

    data = np.clip(samples, -1.0, 1.0)
    channels = 1 if data.ndim == 1 else data.shape[1]
    pcm = (data * 32767.0).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(channels)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(pcm.tobytes())
    return path
