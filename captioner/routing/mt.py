"""The machine-translation stage: committed floor captions in, translated captions out.

Only committed text is translated, so a translated screen never rewrites itself.
Fragments are joined into sentences first
(:class:`captioner.routing.sentences.SentenceJoiner`), glossary terms are protected with
placeholders, and the engine runs in its own executor, one request at a time per stage,
in order. An engine that translates speech gets the sentence's audio with it, taken on
the loop when the sentence is queued: the input worker changes its recent audio on the
loop, so no other thread may read it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from captioner.events import Caption, Status
from captioner.languages import other
from captioner.routing.glossary import Glossary, protect, restore
from captioner.routing.sentences import SentenceJoiner, TimedText
from captioner.routing.tracks import machine_caption
from captioner.states import TRANSLATION_DROPPED, TRANSLATION_ERROR

log = logging.getLogger(__name__)

#: Sentences that may wait for the engine; past it, the oldest waiting one is dropped.
#: At 1-3 s per sentence on a busy CPU, a full queue is a minute or more behind.
QUEUE_SENTENCES = 32
#: Engine times kept in :attr:`MachineTranslation.latencies_s` (the most recent).
LATENCY_WINDOW = 1000


class TextEngine(Protocol):
    """Translates one sentence of ``origin``'s language into the other language."""

    name: str

    def translate_one(self, text: str, origin: Caption, span: TimedText) -> str:
        ...


class SpeechEngine(Protocol):
    """Translates one sentence from its audio; declares so with ``audio_margin_s``.

    Attributes:
        audio_margin_s: Audio wanted before and after the sentence's span, seconds.
    """

    name: str
    audio_margin_s: float

    def translate_one(self, text: str, origin: Caption, span: TimedText,
                      audio: np.ndarray | None) -> str:
        ...


#: Returns an input's samples between two stream times, or None when no longer held.
AudioFor = Callable[[str, float, float], np.ndarray | None]


def needs_audio(engine: TextEngine | SpeechEngine) -> bool:
    """Whether an engine translates from audio (it has ``audio_margin_s``)."""
    return getattr(engine, "audio_margin_s", None) is not None


@dataclass(frozen=True, slots=True)
class _Sentence:
    """A queued sentence: its origin caption, its span and, for speech engines, audio."""

    origin: Caption
    span: TimedText
    audio: np.ndarray | None = None


class ArgosEngine:
    """An :class:`~captioner.routing.argos.ArgosTranslator` with glossary protection."""

    def __init__(self, translator, glossary: Glossary) -> None:
        self.translator = translator
        self.name = f"argos:{translator.from_code}-{translator.to_code}"
        self._terms = glossary.mapping(translator.from_code, translator.to_code)

    def translate_one(self, text: str, origin: Caption, span: TimedText) -> str:
        guarded, holes = protect(text, self._terms)
        (out,) = self.translator.translate([guarded])
        return restore(out, holes)


class WhisperTranslateEngine:
    """Whisper's own speech translation into English, from the sentence's audio.

    A :class:`SpeechEngine`: the stage hands it the audio (see :class:`MachineTranslation`).

    Args:
        engine: The loaded Whisper model.
    """

    name = "whisper-translate"
    audio_margin_s = 0.2

    def __init__(self, engine) -> None:
        self.engine = engine

    def translate_one(self, text: str, origin: Caption, span: TimedText,
                      audio: np.ndarray | None) -> str:
        if other(origin.lang) != "en":
            return ""  # Whisper only translates into English
        if audio is None or len(audio) < 1600:
            return ""
        segments, _ = self.engine.transcribe(audio, origin.lang, task="translate",
                                             word_timestamps=False, temperature=0.0)
        return " ".join(s.text.strip() for s in segments).strip()


class MachineTranslation:
    """Joins, translates and emits, in order, per source language.

    A :class:`SpeechEngine` gets its sentence's audio from ``audio_for``, called on the
    loop when the sentence is queued; the engine, in the executor, only sees the array.

    Overflow: at most ``max_queue`` sentences wait for the engine. When one more comes,
    the oldest waiting sentence is dropped (never the one being translated): it is
    counted in :attr:`dropped`, logged, and reported by a ``translation_dropped``
    status (``lang``: the track it was for, ``dropped``: that track's drops so far).
    A translation that far behind is worth less than the sentences being said now.

    Args:
        engines: Source language -> engine that translates it into the other language.
        executor: Where the engines run (never the event loop).
        emit: Called on the loop with each committed machine caption.
        glossary: Fixes known misrecognitions in the output too.
        max_span_s: A sentence is cut after this much audio (see ``SentenceJoiner``).
        audio_for: Returns an input's samples between two stream times, or None (on the
            loop); needed by speech engines only, which get None without it.
        max_queue: Sentences that may wait for the engine (see above).
        latency_window: Engine times kept in :attr:`latencies_s`.

    Attributes:
        dropped: Sentences dropped from the full queue, all languages, since start.
        latencies_s: Seconds the engine took for each of the latest ``latency_window``
            sentences.
    """

    def __init__(self, engines: dict[str, TextEngine | SpeechEngine], executor: Executor,
                 emit: Callable[[Caption | Status], None], glossary: Glossary | None = None,
                 max_span_s: float = 4.0, audio_for: AudioFor | None = None,
                 max_queue: int = QUEUE_SENTENCES, latency_window: int = LATENCY_WINDOW) -> None:
        self.engines = engines
        self.executor = executor
        self.emit = emit
        self.glossary = glossary if glossary is not None else Glossary()
        self.audio_for = audio_for
        self._joiners = {lang: SentenceJoiner(max_span_s=max_span_s) for lang in engines}
        self._last_origin: dict[str, Caption] = {}
        self.max_queue = max(1, max_queue)
        self._queue: collections.deque[_Sentence] = collections.deque()
        self._wake = asyncio.Event()
        self._closed = False
        self._count = 0
        self.dropped = 0
        self._dropped_by_lang: dict[str, int] = {}
        self.latencies_s: collections.deque[float] = collections.deque(maxlen=latency_window)

    @property
    def pending(self) -> int:
        """Sentences waiting for the engine (not the one it is translating)."""
        return len(self._queue)

    def submit(self, caption: Caption) -> None:
        """Takes a committed floor caption (on the loop; never blocks)."""
        joiner = self._joiners.get(caption.lang)
        if joiner is None:
            return
        self._last_origin[caption.lang] = caption
        for span in joiner.push(caption.text, caption.start_s, caption.end_s):
            self._enqueue(caption, span)

    def utterance_ended(self, lang: str | None = None) -> None:
        """The speaker paused: translate what is buffered even without a sentence end."""
        for src, joiner in self._joiners.items():
            if lang is None or src == lang:
                origin = self._last_origin.get(src)
                for span in joiner.flush():
                    if origin is not None:
                        self._enqueue(origin, span)

    def _enqueue(self, origin: Caption, span: TimedText) -> None:
        engine = self.engines[origin.lang]
        audio = None
        if needs_audio(engine) and self.audio_for is not None:
            # On the loop, where the worker changes its recent audio: the slice is ours.
            margin = engine.audio_margin_s
            audio = self.audio_for(origin.input_id, span.start_s - margin,
                                   span.end_s + margin)
        if len(self._queue) >= self.max_queue:
            self._drop_oldest()
        self._queue.append(_Sentence(origin, span, audio))
        self._wake.set()

    def _drop_oldest(self) -> None:
        lost = self._queue.popleft()
        lang = other(lost.origin.lang)
        self.dropped += 1
        count = self._dropped_by_lang[lang] = self._dropped_by_lang.get(lang, 0) + 1
        log.warning("translation queue full (%d sentences): dropped the oldest, into %s "
                    "(%d into %s so far): %.60s", self.max_queue, lang, count, lang,
                    lost.span.text)
        self.emit(Status(TRANSLATION_DROPPED, time.time_ns(), detail={
            "lang": lang, "dropped": count}))

    def close(self) -> None:
        """Flushes everything; :meth:`run` returns once it is translated."""
        self.utterance_ended()
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        """Translates what :meth:`submit` queues, in order, until :meth:`close`."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self._queue.popleft()
            origin, span = item.origin, item.span
            engine = self.engines[origin.lang]
            args = (span.text, origin, span, item.audio) if needs_audio(engine) else (
                span.text, origin, span)
            started = time.perf_counter()
            try:
                text = await loop.run_in_executor(self.executor, engine.translate_one, *args)
                text = self.glossary.fix(text or "", other(origin.lang)).strip()
            except Exception as exc:  # one failed sentence must not stop the track
                error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                log.error("translation failed (%s): %s", engine.name, error)
                self.emit(Status(TRANSLATION_ERROR, time.time_ns(), detail={
                    "engine": engine.name, "lang": other(origin.lang), "error": error}))
                continue
            self.latencies_s.append(time.perf_counter() - started)
            if not text:
                continue
            self._count += 1
            self.emit(machine_caption(origin, text, span.start_s, span.end_s, time.time_ns(),
                                      self._count))
