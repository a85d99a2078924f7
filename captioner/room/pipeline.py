"""The live pipeline of a room: a source, a worker per input, track routing, machine
translation, and the ordered sinks every event is handed to.

It owns its tasks and executors; nothing here decides what text to show (that is
:mod:`captioner.recognition.streaming`) or how it travels (:mod:`captioner.bus`). It is
built complete in one call, by :func:`captioner.room.build.build_room` in a live run.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from captioner.events import AudioChunk, Caption, Speaker, Status
from captioner.inputs.sources import AudioSource
from captioner.recognition.asr import WhisperEngine
from captioner.recognition.live import InputWorker
from captioner.recognition.schedule import LiveParams
from captioner.recognition.streaming import StreamingParams
from captioner.room.controls import Controls
from captioner.routing.glossary import Glossary
from captioner.routing.mt import MachineTranslation
from captioner.routing.tracks import TrackRouter

log = logging.getLogger(__name__)

Sink = Callable[[Caption | Status], None]
AudioFor = Callable[[str, float, float], "np.ndarray | None"]
#: Builds the machine-translation stage of a pipeline from the pipeline's own
#: ``audio_for`` and ``publish`` (see :func:`captioner.room.build.build_translation`).
TranslationFactory = Callable[[AudioFor, Sink], MachineTranslation]


@dataclass
class SessionStats:
    """Counters for benchmarks, /healthz and the operator."""

    committed: int = 0
    partials: int = 0
    passes: dict[str, int] = field(default_factory=dict)
    asr_seconds: dict[str, float] = field(default_factory=dict)
    dropped_chunks: dict[str, int] = field(default_factory=dict)


class LivePipeline:
    """Runs one source through a worker per input and hands every event to the sinks.

    Committed captions get a session-wide ``seq`` here, in emission order, before any
    sink sees them.

    Args:
        engine: Loaded Whisper model (shared by all inputs, one pass at a time).
        source: Where audio comes from.
        sinks: Called on the loop with every caption and status, in order.
        sources_label: Input id -> caption source label (``floor``/``interpretation``).
        controls: Operator settings.
        live_params: Timing of the live loop.
        first_seq: Sequence number of the first committed caption (resume).
        glossary: Term fixes applied to every caption, and hotwords for Whisper.
        router: Which track each caption goes to; without a translation stage it
            never asks for machine translation.
        translation: Builds the machine-translation stage, or None for none.
        hotwords: Whether the glossary's terms are given to Whisper as hotwords.
        policy_params: The streaming commit policy's settings.
        audio_taps: Called with every audio chunk on the loop (the session recorder);
            must not block.
        time_offset_s: Added to every chunk's stream time (a resumed session
            continues its clock).
    """

    def __init__(self, engine: WhisperEngine, source: AudioSource, sinks: Sequence[Sink],
                 sources_label: dict[str, str] | None = None,
                 controls: Controls | None = None, live_params: LiveParams = LiveParams(),
                 first_seq: int = 1, glossary: Glossary = Glossary(),
                 router: TrackRouter | None = None,
                 translation: TranslationFactory | None = None,
                 hotwords: bool = True,
                 policy_params: StreamingParams = StreamingParams(),
                 audio_taps: Sequence[Callable[[AudioChunk], None]] = (),
                 time_offset_s: float = 0.0,
                 session_title: Callable[[], str] = str) -> None:
        self.engine = engine
        self.session_title = session_title
        self.source = source
        self.sinks = tuple(sinks)
        self.controls = controls or Controls()
        self.labels = sources_label or {}
        self.live_params = live_params
        self.policy_params = policy_params
        self.glossary = glossary
        self.use_hotwords = hotwords and bool(glossary.terms)
        self.router = router or TrackRouter(translate=translation is not None)
        self.translation = translation(self.audio_for, self.publish) if translation else None
        self.stats = SessionStats()
        self._next_seq = first_seq
        self._listening = False
        self._held: list[Status] = []
        # Events published during a delivery, handed on after it (see publish()).
        self._pending: collections.deque[Caption | Status] = collections.deque()
        self._delivering = False
        self._asr = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asr")
        self._vad = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vad")
        self.workers: dict[str, InputWorker] = {}
        self.audio_taps = tuple(audio_taps)
        self.time_offset_s = time_offset_s
        # Per floor input: (utterance id, speaker) of the utterance in progress.
        self._speakers: dict[str, tuple[str, Speaker | None]] = {}

    def _with_speaker(self, caption: Caption) -> Caption:
        """A floor caption with the speaker its utterance began with: the operator's
        choice takes effect from the next utterance on, never in the middle of one."""
        current = self._speakers.get(caption.input_id)
        if current is None or current[0] != caption.id:
            current = (caption.id, self.controls.speaker_for(caption.input_id))
            self._speakers[caption.input_id] = current
        speaker = current[1]
        return caption if speaker is None else dataclasses.replace(caption, speaker=speaker)

    def on_worker_event(self, event: Caption | Status) -> None:
        """Everything an input worker produces: the speaker, glossary fixes, then the
        track router (which gives interpretations the floor's speaker)."""
        if not isinstance(event, Caption):
            self.publish(event)
            return
        if event.source == "floor":
            event = self._with_speaker(event)
        if self.glossary.terms:
            event = dataclasses.replace(event, text=self.glossary.fix(event.text, event.lang))
        routed = self.router.route(event)
        for caption in routed.publish:
            self.publish(caption)
        if routed.translate is not None and self.translation is not None:
            self.translation.submit(routed.translate)

    def audio_for(self, input_id: str, start_s: float, end_s: float):
        """Recent audio of an input (for Whisper's speech translation); on the loop only,
        where the input's worker changes it."""
        worker = self.workers.get(input_id)
        return worker.recent_audio(start_s, end_s) if worker else None

    def announce(self, status: Status) -> None:
        """Publishes a start-up status right after ``listening`` (the first event)."""
        if self._listening:
            self.publish(status)
        else:
            self._held.append(status)

    def publish(self, event: Caption | Status) -> None:
        """Stamps committed captions with their ``seq`` and hands the event to each sink.

        An event published while another is being delivered (a sink that reacts, such
        as the journal's ``recording_error``) waits until that one has reached every
        sink: each sink sees the same order, and nothing overtakes what caused it.
        """
        if isinstance(event, Status) and event.state == "listening" and not self._listening:
            self._listening = True
            self._pending.append(event)
            self._pending.extend(self._held)
            self._held.clear()
        else:
            self._pending.append(event)
        if self._delivering:
            return  # the delivery in progress hands it on when it is done
        self._delivering = True
        try:
            while self._pending:
                self._deliver(self._pending.popleft())
        finally:
            self._delivering = False

    def _deliver(self, event: Caption | Status) -> None:
        if isinstance(event, Caption):
            if event.final:
                event = dataclasses.replace(event, seq=self._next_seq)
                self._next_seq += 1
                self.stats.committed += 1
            else:
                self.stats.partials += 1
        for sink in self.sinks:
            try:
                sink(event)
            except Exception:  # one broken sink must not stop captions for the others
                log.exception("sink %r failed", sink)

    def _worker(self, input_id: str) -> InputWorker:
        worker = self.workers.get(input_id)
        if worker is None:
            floor = self.labels.get(input_id, "floor") == "floor"
            worker = InputWorker(
                input_id, self.engine, self._asr, self._vad, self.on_worker_event,
                forced_language=lambda: self.controls.forced_language,
                language_hint=(lambda: self.controls.language_hint(input_id)) if floor
                else (lambda: None),
                source=self.labels.get(input_id, "floor"), params=self.live_params,
                policy_params=self.policy_params,
                hotwords=self.glossary.hotwords if self.use_hotwords else None,
                on_utterance_end=self._utterance_ended)
            self.workers[input_id] = worker
        return worker

    async def run(self) -> SessionStats:
        """Runs until the source ends or :meth:`stop` is called; flushes every input."""
        tasks: list[asyncio.Task] = []
        mt_task = (asyncio.create_task(self.translation.run(), name="translation")
                   if self.translation is not None else None)
        try:
            loop = asyncio.get_running_loop()

            def start(input_id: str) -> InputWorker:
                worker = self._worker(input_id)
                tasks.append(asyncio.create_task(worker.run(), name=f"worker-{input_id}"))
                return worker

            for input_id in self.source.inputs:
                # In the VAD executor, off the loop; a missing model fails here, at once.
                await loop.run_in_executor(self._vad, self._worker(input_id).load_vad)
                start(input_id)
            async for event in self.source.events():
                if isinstance(event, AudioChunk):
                    if self.time_offset_s:
                        event = dataclasses.replace(
                            event, start_s=event.start_s + self.time_offset_s)
                    for tap in self.audio_taps:
                        tap(event)
                    if not self.controls.input_enabled(event.input_id):
                        # Silence instead of nothing: an utterance in progress ends and is
                        # committed, and the worker's stream time stays continuous.
                        event = dataclasses.replace(event,
                                                    samples=np.zeros_like(event.samples))
                    # An input the source did not declare (a channel that appeared
                    # mid-stream) gets its worker running too; its VAD loads in the
                    # worker's first step, in the VAD executor.
                    worker = self.workers.get(event.input_id) or start(event.input_id)
                    worker.feed(event)
                else:
                    self.publish(event)
            for worker in self.workers.values():
                worker.close()
            await asyncio.gather(*tasks)
            if mt_task is not None:
                self.translation.close()
                await mt_task
        finally:
            for task in tasks:
                task.cancel()
            if mt_task is not None:
                mt_task.cancel()
            self._asr.shutdown(wait=False, cancel_futures=True)
            self._vad.shutdown(wait=False, cancel_futures=True)
        for input_id, worker in self.workers.items():
            self.stats.passes[input_id] = worker.passes
            self.stats.asr_seconds[input_id] = round(worker.asr_seconds, 3)
            self.stats.dropped_chunks[input_id] = worker.dropped_chunks
        # The title rides along: a serving edge that starts after the room stopped finds
        # this status last on the bus, and names the room by it on the venue index.
        title = self.session_title()
        self.publish(Status("stopped", time.time_ns(), detail={
            "committed": self.stats.committed, "passes": self.stats.passes,
            "dropped_chunks": self.stats.dropped_chunks, **({"title": title} if title else {})}))
        return self.stats

    def _utterance_ended(self, input_id: str, lang: str | None) -> None:
        if self.translation is not None and self.labels.get(input_id, "floor") == "floor":
            self.translation.utterance_ended(lang)

    def stop(self) -> None:
        self.source.stop()
