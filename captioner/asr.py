"""The Whisper wrapper: audio (and options) in, segments with word times out.

faster-whisper's ``segments`` result is a lazy generator that decodes as it is
iterated; :meth:`WhisperEngine.transcribe` consumes it completely, so callers can run
it in an executor and never decode on an event loop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from captioner.errors import ModelError
from captioner.events import Segment, Word

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000


def cuda_available() -> bool:
    """True when CTranslate2 sees a CUDA device."""
    try:
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    except Exception:  # a broken CUDA install must not stop CPU use
        return False


@dataclass(frozen=True)
class Placement:
    """Where and how a model runs."""

    device: str
    compute_type: str
    threads: int


def choose_placement(device: str = "auto", compute_type: str = "auto",
                     threads: int = 0) -> Placement:
    """Resolves ``auto`` settings: float16 on CUDA when present, else int8 on the CPU.

    ``threads=0`` gives one thread per core this process may use.
    """
    if device == "auto":
        device = "cuda" if cuda_available() else "cpu"
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    if threads <= 0:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    return Placement(device, compute_type, threads)


@dataclass(frozen=True)
class LanguageGuess:
    """The most likely allowed language and its probability among the allowed ones."""

    lang: str
    probability: float


class WhisperEngine:
    """One loaded Whisper model.

    Args:
        model_dir: A CTranslate2 Whisper folder (resolved through the model store).
        placement: Device, compute type and threads.
        languages: Languages that language identification may choose from.
    """

    def __init__(self, model_dir: Path, placement: Placement,
                 languages: Sequence[str] = ("ru", "en")) -> None:
        from faster_whisper import WhisperModel

        self.placement = placement
        self.languages = tuple(languages)
        try:
            self._model = WhisperModel(
                str(model_dir), device=placement.device, compute_type=placement.compute_type,
                cpu_threads=placement.threads, local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(
                f"could not load the Whisper model in {model_dir}: {exc}",
                hint="check it with: captioner models verify",
            ) from None
        log.info("loaded %s on %s (%s, %d threads)", model_dir, placement.device,
                 placement.compute_type, placement.threads)

    def detect_language(self, audio: np.ndarray) -> LanguageGuess:
        """Identifies the language of ``audio``, choosing only among ``self.languages``.

        Whisper ranks all its languages; the probabilities of the allowed ones are
        renormalised so that, for example, Ukrainian-sounding Russian still counts as ru.
        """
        if len(self.languages) == 1:
            return LanguageGuess(self.languages[0], 1.0)
        _, _, ranked = self._model.detect_language(audio=audio[: 30 * SAMPLE_RATE])
        allowed = {lang: p for lang, p in ranked if lang in self.languages}
        total = sum(allowed.values()) or 1.0
        lang = max(allowed, key=allowed.get) if allowed else self.languages[0]
        return LanguageGuess(lang, allowed.get(lang, 0.0) / total)

    def transcribe(
        self,
        audio: np.ndarray,
        language: str | None,
        *,
        offset_s: float = 0.0,
        beam_size: int = 1,
        prompt: str | None = None,
        word_timestamps: bool = True,
        temperature: float | Sequence[float] = 0.0,
        progress: Callable[[float], None] | None = None,
        vad_filter: bool = False,
        condition_on_previous_text: bool = False,
        hotwords: str | None = None,
        task: str = "transcribe",
    ) -> tuple[list[Segment], str]:
        """Transcribes ``audio`` (16 kHz mono float32) completely.

        Args:
            audio: Samples.
            language: Forced language, or None to identify it among ``self.languages``.
            offset_s: Added to every time, to put them on the stream's clock.
            beam_size: 1 is greedy.
            prompt: Previous text, to keep style and terms consistent.
            word_timestamps: Whether to compute per-word times.
            temperature: One value (no fallback, bounded time) or a fallback ladder.
            progress: Called with the audio seconds decoded so far.
            vad_filter: Skip silence with faster-whisper's Silero VAD (for long files).
            condition_on_previous_text: Feed each window the previous window's text.
            hotwords: Terms to bias recognition towards.
            task: ``transcribe`` or ``translate`` (into English).

        Returns:
            The segments, and the language used.
        """
        if language is None:
            language = self.detect_language(audio).lang
        segments, _info = self._model.transcribe(
            audio, language=language, task=task, beam_size=beam_size,
            temperature=temperature, initial_prompt=prompt or None,
            word_timestamps=word_timestamps, vad_filter=vad_filter,
            condition_on_previous_text=condition_on_previous_text, hotwords=hotwords or None,
        )
        out: list[Segment] = []
        for seg in segments:  # decoding happens here, as the generator is consumed
            words = tuple(
                Word(w.word, w.start + offset_s, w.end + offset_s, w.probability)
                for w in (seg.words or ())
            )
            out.append(Segment(
                text=seg.text.strip(), start_s=seg.start + offset_s, end_s=seg.end + offset_s,
                lang=language, words=words, avg_logprob=seg.avg_logprob,
                no_speech_prob=seg.no_speech_prob, compression_ratio=seg.compression_ratio,
            ))
            if progress is not None:
                progress(seg.end)
        return out, language
