"""The Whisper wrapper: audio (and options) in, segments with word times out.

faster-whisper's ``segments`` result is a lazy generator that decodes as it is
iterated; :meth:`WhisperEngine.transcribe` consumes it completely, so callers can run
it in an executor and never decode on an event loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from captioner.errors import ModelError
from captioner.events import SAMPLE_RATE, Segment, Word
from captioner.languages import LANGUAGES

log = logging.getLogger(__name__)

# Encoder window sizes for short audio. Whisper is trained on 30 s windows, but
# CTranslate2 runs the encoder on shorter ones, and its cost grows with the window:
# on a 2-core CPU a 10 s window encodes about 4x faster than 30 s. Live passes decode
# a few seconds of audio, so they use the smallest window that holds it.
# Below 10 s, or with less than a few seconds of padding after the speech, Whisper
# tends to loop ("ка-ка-ка...", a phrase twice), so windows keep a margin.
WINDOWS_S = (10, 15, 20, 30)
WINDOW_MARGIN_S = 3.0


def window_for(duration_s: float, margin_s: float = WINDOW_MARGIN_S) -> int:
    """The smallest encoder window (seconds) that holds ``duration_s`` plus a margin."""
    for window in WINDOWS_S:
        if duration_s + margin_s <= window:
            return window
    return WINDOWS_S[-1]


def token_budget(duration_s: float) -> int:
    """Most tokens a pass may decode: speech runs at well under 8 tokens a second, so a
    pass that needs more is looping, and stopping it keeps every pass bounded in time."""
    return min(224, int(8 * duration_s) + 24)


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
    chosen_automatically: bool = False


def cpu_placement(threads: int = 0) -> Placement:
    """int8 on the CPU, one thread per core unless told otherwise."""
    return choose_placement("cpu", "auto", threads)


def choose_placement(device: str = "auto", compute_type: str = "auto",
                     threads: int = 0) -> Placement:
    """Resolves ``auto`` settings: float16 on CUDA when present, else int8 on the CPU.

    ``threads=0`` gives one thread per core this process may use.
    """
    automatic = device == "auto"
    if automatic:
        device = "cuda" if cuda_available() else "cpu"
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    if threads <= 0:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    return Placement(device, compute_type, threads, chosen_automatically=automatic)


@dataclass(frozen=True)
class LanguageGuess:
    """The most likely allowed language and its probability among the allowed ones."""

    lang: str
    probability: float


def _windowed_model_class():
    """A WhisperModel whose encoder sees only the window set for the current thread,
    and which reuses the last encoder output for the same features.

    faster-whisper pads every 30 s window of features to 3000 frames before encoding.
    For short live buffers most of that is padding; cutting it to the window set with
    :meth:`set_window` makes the encoder several times cheaper.

    Identifying the language and then decoding encodes the same window twice (the
    encoder is about a third of a short live pass); the output of the last encode is
    kept per thread and returned again when the features are identical.

    With ``set_one_window(True)`` the audio is decoded in a single window. When a
    window's text does not end cleanly, faster-whisper decodes the rest again from the
    last word, encoder included. In live passes that rest is the word being spoken at
    the buffer's end, which the next pass hears whole: 38 of 164 recorded live passes
    did it, for about 13% of their decoding time.
    """
    import threading

    from faster_whisper import WhisperModel

    class WindowedWhisperModel(WhisperModel):
        _local = threading.local()

        def set_window(self, frames: int | None) -> None:
            self._local.frames = frames

        def forget_encoding(self) -> None:
            self._local.last = None

        def set_one_window(self, one_window: bool) -> None:
            self._local.one_window = one_window

        def _split_segments_by_timestamps(self, tokenizer, tokens, time_offset,
                                          segment_size, segment_duration, seek):
            segments, next_seek, single_ending = super()._split_segments_by_timestamps(
                tokenizer, tokens, time_offset, segment_size, segment_duration, seek)
            if not getattr(self._local, "one_window", False):
                return segments, next_seek, single_ending
            # The unfinished last segment, which faster-whisper would decode again.
            rest = tokens[sum(len(s["tokens"]) for s in segments):]
            if any(t < tokenizer.eot for t in rest):
                segments.append(dict(
                    seek=seek, start=segments[-1]["end"] if segments else time_offset,
                    end=time_offset + segment_duration, tokens=list(rest)))
            return segments, seek + segment_size, True

        def encode(self, features):
            frames = getattr(self._local, "frames", None)
            if frames and features.shape[-1] > frames:
                features = features[..., :frames]
            last = getattr(self._local, "last", None)
            if last is not None and np.array_equal(last[0], features):
                return last[1]
            output = super().encode(features)
            self._local.last = (np.array(features, copy=True), output)
            return output

    return WindowedWhisperModel


def _first_window(model, audio: np.ndarray) -> np.ndarray:
    """The features of the first 30 s window exactly as faster-whisper's ``transcribe``
    builds them (so that an encoder output computed here is found again there)."""
    from faster_whisper.audio import pad_or_trim

    features = model.feature_extractor(audio, chunk_length=30)
    content_frames = features.shape[-1] - 1
    return pad_or_trim(features[:, : min(model.feature_extractor.nb_max_frames,
                                         content_frames)])


class WhisperEngine:
    """One loaded Whisper model.

    Args:
        model_dir: A CTranslate2 Whisper folder (resolved through the model store).
        placement: Device, compute type and threads.
        languages: Languages that language identification may choose from.
    """

    def __init__(self, model_dir: Path, placement: Placement,
                 languages: Sequence[str] = LANGUAGES) -> None:
        self.languages = tuple(languages)
        self._model = self._load(model_dir, placement)
        if placement.device == "cuda":
            try:
                self._warm_up()
            except RuntimeError as exc:
                # CTranslate2 loads CUDA libraries lazily, at the first encode: a machine
                # with a GPU but without the cuBLAS/cuDNN versions CTranslate2 was built
                # for fails only here (seen: libcublas.so.12 on a CUDA 13 machine).
                if not placement.chosen_automatically:
                    raise ModelError(
                        f"Whisper cannot run on CUDA here: {exc}",
                        hint="install the CUDA 12 cuBLAS and cuDNN 9 libraries "
                        "(pip install nvidia-cublas-cu12 nvidia-cudnn-cu12), or use "
                        "--set asr.device=cpu") from None
                log.warning("CUDA is present but unusable (%s); running on the CPU (int8)",
                            exc)
                placement = cpu_placement()
                self._model = self._load(model_dir, placement)
        self.placement = placement
        log.info("loaded %s on %s (%s, %d threads)", model_dir, placement.device,
                 placement.compute_type, placement.threads)

    @staticmethod
    def _load(model_dir: Path, placement: Placement):
        try:
            return _windowed_model_class()(
                str(model_dir), device=placement.device, compute_type=placement.compute_type,
                cpu_threads=placement.threads, local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(
                f"could not load the Whisper model in {model_dir}: {exc}",
                hint="check it with: captioner models verify",
            ) from None

    def _warm_up(self) -> None:
        """One encode of a second of silence: loads the device libraries now."""
        from faster_whisper.audio import pad_or_trim

        features = self._model.feature_extractor(np.zeros(SAMPLE_RATE, np.float32),
                                                 chunk_length=30)
        self._model.encode(pad_or_trim(features))

    @contextlib.contextmanager
    def _encoder_window(self, audio: np.ndarray, window_s: int | None):
        """Sets the encoder window for the calls inside (see :func:`window_for`) and
        yields it in seconds; 30 s is Whisper's own, uncut."""
        window = min(window_s or window_for(len(audio) / SAMPLE_RATE), 30)
        self._model.set_window(window * 100 if window < 30 else None)
        try:
            yield window
        finally:
            self._model.set_window(None)

    def detect_language(self, audio: np.ndarray, window_s: int | None = None) -> LanguageGuess:
        """Identifies the language of ``audio``, choosing only among ``self.languages``.

        Whisper ranks all its languages; the probabilities of the allowed ones are
        renormalised so that, for example, Ukrainian-sounding Russian still counts as ru.

        Args:
            audio: Samples (the first 30 s count).
            window_s: Encoder window, as for :meth:`transcribe` (None: the smallest that
                fits). A :meth:`transcribe` of the same audio with the same window right
                after this call reuses the encoder output.
        """
        if len(self.languages) == 1:
            return LanguageGuess(self.languages[0], 1.0)
        with self._encoder_window(audio, window_s):
            encoded = self._model.encode(_first_window(self._model, audio))
        ranked = [(token[2:-2], prob)
                  for token, prob in self._model.model.detect_language(encoded)[0]]
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
        window_s: int | None = 30,
        no_repeat_ngram_size: int = 0,
        one_window: bool = False,
        keep_encoding: bool = False,
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
            window_s: Encoder window: 30 s (Whisper's own, best quality) by default;
                None picks the smallest that holds the audio with a margin (fast, for
                provisional live passes).
            no_repeat_ngram_size: Forbid the decoder to repeat a run of this many tokens
                within one window (0: off). The prompt does not count.
            one_window: Decode in a single window even when its text does not end
                cleanly (live passes: bounded time).
            keep_encoding: Keep the encoder's output for the next call on the same
                audio and window (a decoding in another language encodes nothing).

        Returns:
            The segments, and the language used.
        """
        if language is None:
            language = self.detect_language(audio, window_s).lang
        self._model.set_one_window(one_window)
        try:
            with self._encoder_window(audio, window_s) as window:
                segments, _info = self._model.transcribe(
                    audio, language=language, task=task, beam_size=beam_size,
                    chunk_length=30, temperature=temperature, initial_prompt=prompt or None,
                    word_timestamps=word_timestamps, vad_filter=vad_filter,
                    condition_on_previous_text=condition_on_previous_text,
                    hotwords=hotwords or None, no_repeat_ngram_size=no_repeat_ngram_size,
                    max_new_tokens=(token_budget(len(audio) / SAMPLE_RATE) if window < 30
                                    else None),
                )
                # Decoding happens while the generator is consumed, inside the window.
                return collect_segments(segments, language, offset_s, progress), language
        finally:
            if not keep_encoding:
                self._model.forget_encoding()
            self._model.set_one_window(False)


def collect_segments(segments, language: str, offset_s: float = 0.0,
                     progress: Callable[[float], None] | None = None) -> list[Segment]:
    """Consumes faster-whisper's lazy segments (decoding happens here) into ours,
    with times moved by ``offset_s``."""
    out: list[Segment] = []
    for seg in segments:
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
    return out
