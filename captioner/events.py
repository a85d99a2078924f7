"""Every type that flows between the stages of the pipeline, and nothing else.

Times carry their unit in the field name: ``*_s`` are seconds of audio-stream time
(since the input started listening), ``*_ns`` are wall-clock ``time.time_ns()`` values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

#: Samples per second of every AudioChunk: 16 kHz mono float32, what Whisper and the VAD
#: take; sources resample to it.
SAMPLE_RATE = 16000

Source = Literal["floor", "interpretation", "machine"]


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A block of 16 kHz mono float32 samples from one input.

    Attributes:
        input_id: Which input produced it (``"floor"``, ``"booth"``...).
        samples: 1-D float32 array in [-1, 1] at 16 kHz.
        start_s: Stream time of the first sample.
        captured_ns: Wall-clock time when the block was captured (or paced, for files).
    """

    input_id: str
    samples: np.ndarray
    start_s: float
    captured_ns: int

    @property
    def end_s(self) -> float:
        return self.start_s + len(self.samples) / 16000.0


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word with its stream times and the model's probability."""

    text: str
    start_s: float
    end_s: float
    probability: float = 1.0


@dataclass(frozen=True, slots=True)
class Segment:
    """A decoded stretch of speech: text, times, language and confidence figures."""

    text: str
    start_s: float
    end_s: float
    lang: str
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0


@dataclass(frozen=True, slots=True)
class Speaker:
    """Who is speaking, as a caption carries it (``speaker`` on the wire).

    Attributes:
        name: The name as the screens show it (``H.E. Zulfiya Suleimenova``).
        role: Role or affiliation (``Minister of Ecology, Kazakhstan``); may be empty.
    """

    name: str
    role: str = ""


@dataclass(frozen=True, slots=True)
class Caption:
    """A caption on one language track.

    A partial caption (``final=False``) is replaceable: a later caption with the same
    ``id`` supersedes it. A committed caption (``final=True``) is append-only and never
    revised; it carries a ``seq`` that increases by one per committed caption of the
    session.

    Attributes:
        id: Stable id of the utterance; partials and their committed text share it.
        final: True for committed text.
        lang: ISO 639-1 code of the text (``"ru"`` or ``"en"``).
        text: Caption text, plain (never HTML).
        start_s: Stream time where the captioned speech starts.
        end_s: Stream time where it ends.
        emitted_ns: Wall-clock time when the caption was emitted.
        source: ``floor``, ``interpretation`` (booth) or ``machine`` (translation).
        input_id: The input whose audio produced it.
        seq: Session-wide sequence number of a committed caption; ``None`` for partials.
        revision: Counts the partial revisions of an id.
        words: The timed words behind the text, where known (not sent to viewers).
        utterance_id: The utterance the caption belongs to when that is not ``id``: a
            machine translation names the floor utterance it translates, so that the
            views keep one paragraph per utterance (``utterance`` on the wire).
        speaker: Who is speaking: the floor speaker the operator set when the utterance
            began; an interpretation or a machine translation carries the speaker of
            the floor utterance it renders. None when nobody was set.
    """

    id: str
    final: bool
    lang: str
    text: str
    start_s: float
    end_s: float
    emitted_ns: int
    source: Source = "floor"
    input_id: str = "floor"
    seq: int | None = None
    revision: int = 0
    words: tuple[Word, ...] = ()
    utterance_id: str | None = None
    speaker: Speaker | None = None


@dataclass(frozen=True, slots=True)
class Status:
    """A state change or measurement for operators and views.

    ``state`` is a short machine-readable word (``listening``, ``paused``,
    ``input_lost``, ``levels``, ``translation_unavailable``, ``stopped``...; every one
    is in :mod:`captioner.states`); ``detail`` holds JSON-serialisable extras.
    """

    state: str
    emitted_ns: int
    input_id: str | None = None
    detail: dict = field(default_factory=dict)
