"""Speech/silence decisions: a pure state machine, and a thin stateful Silero wrapper.

Silero VAD (the v6 ONNX model that ships inside faster-whisper, run with onnxruntime)
gives a speech probability for every 32 ms window. :class:`VadSegmenter` turns those
probabilities into speech-start and speech-end decisions with hysteresis, so a breath
does not end an utterance and a cough does not start one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from captioner.events import SAMPLE_RATE

WINDOW = 512  # samples per Silero decision (32 ms)
_CONTEXT = 64


@dataclass(frozen=True)
class VadParams:
    """Hysteresis settings.

    Attributes:
        onset: Probability at or above which a window counts as speech.
        offset: Probability below which a window counts as silence (once in speech).
        min_speech_s: Speech must last this long to start an utterance.
        min_silence_s: Silence must last this long to end one.
    """

    onset: float = 0.5
    offset: float = 0.35
    min_speech_s: float = 0.15
    min_silence_s: float = 0.5


@dataclass(frozen=True)
class VadEvent:
    """``start`` or ``end`` of speech at stream time ``at_s``."""

    kind: str
    at_s: float


class VadSegmenter:
    """Pure hysteresis state machine over per-window speech probabilities."""

    def __init__(self, params: VadParams = VadParams(), window_s: float = WINDOW / SAMPLE_RATE):
        self.params = params
        self.window_s = window_s
        self.in_speech = False
        self._run_start_s: float | None = None  # start of the current candidate run
        self._silence_start_s: float | None = None
        self.speech_start_s: float | None = None

    def push(self, probs: np.ndarray | list[float], start_s: float) -> list[VadEvent]:
        """Feeds probabilities of consecutive windows starting at ``start_s``."""
        events: list[VadEvent] = []
        p = self.params
        for i, prob in enumerate(probs):
            t = start_s + i * self.window_s
            if not self.in_speech:
                if prob >= p.onset:
                    if self._run_start_s is None:
                        self._run_start_s = t
                    if t + self.window_s - self._run_start_s >= p.min_speech_s:
                        self.in_speech = True
                        self.speech_start_s = self._run_start_s
                        self._silence_start_s = None
                        events.append(VadEvent("start", self._run_start_s))
                else:
                    self._run_start_s = None
            else:
                if prob < p.offset:
                    if self._silence_start_s is None:
                        self._silence_start_s = t
                    if t + self.window_s - self._silence_start_s >= p.min_silence_s:
                        self.in_speech = False
                        self._run_start_s = None
                        events.append(VadEvent("end", self._silence_start_s))
                elif prob >= p.offset:
                    self._silence_start_s = None
        return events


class SileroVad:
    """Stateful streaming Silero VAD: feed any block sizes, get per-window probabilities.

    The LSTM state and the 64-sample context carry over between calls, so a stream cut
    into blocks gives the same decisions as one long array.
    """

    def __init__(self) -> None:
        import onnxruntime
        from faster_whisper.utils import get_assets_path

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            os.path.join(get_assets_path(), "silero_vad_v6.onnx"),
            providers=["CPUExecutionProvider"], sess_options=opts)
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """Probabilities for every complete 32 ms window now available."""
        data = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        n = len(data) // WINDOW
        self._pending = data[n * WINDOW:]
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        windows = data[: n * WINDOW].reshape(n, WINDOW)
        contexts = np.empty((n, _CONTEXT), dtype=np.float32)
        contexts[0] = self._context
        contexts[1:] = windows[:-1, -_CONTEXT:]
        self._context = windows[-1, -_CONTEXT:].copy()
        batch = np.concatenate([contexts, windows], axis=1)
        out, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c})
        return np.asarray(out, dtype=np.float32).reshape(-1)
