"""A live room: the pipeline, the screen gate, the session record and the bus, wired in
one fixed order, and the room's side of the operator's commands.

Every event of the pipeline goes, in this order, to the journal (on disk before any
screen shows it), through the screen gate (held back while paused) and onto the bus,
where every audience subscribes. Commands come back over the bus; the room applies
them and publishes a :class:`~captioner.bus.messages.RoomFigures` snapshot a few times
a second, and at once after each command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from captioner.bus.base import CaptionBus
from captioner.bus.messages import Ack, Command, InputFigures, Placement, RoomFigures
from captioner.errors import CaptionerError, CommandError
from captioner.events import SAMPLE_RATE, AudioChunk, Caption, Status
from captioner.inputs.sources import AudioSource, FileSource
from captioner.languages import LANGUAGES
from captioner.programme import Programme
from captioner.recognition.schedule import LiveParams
from captioner.recognition.streaming import StreamingParams
from captioner.record.current import CurrentRecord
from captioner.record.journal_read import JournalRead
from captioner.room.controls import Controls, apply, follow_schedule
from captioner.room.gate import ScreenGate
from captioner.room.pipeline import LivePipeline, SessionStats, TranslationFactory
from captioner.routing.glossary import Glossary
from captioner.routing.tracks import TrackRouter

log = logging.getLogger(__name__)

#: How often the room publishes its figures.
FIGURES_EVERY_S = 0.25


class Room:
    """One live room, built complete (see :func:`captioner.room.build.build_room`).

    Args:
        engine: The loaded Whisper model.
        source: Where audio comes from.
        bus: Where the room publishes; it serves the room's commands.
        labels: Input id -> caption source label (``floor``/``interpretation``).
        controls: The operator's settings (the ``--language`` given at start).
        record: The session record, or None when not recording.
        translation: Builds the machine-translation stage, or None.
        router: Track routing.
        glossary: Term fixes and hotwords.
        hotwords: Whether the glossary's terms are given to Whisper as hotwords.
        live_params: Timing of the live loop.
        policy_params: The streaming commit policy's settings.
        announcements: Statuses to publish once the inputs listen (start-up news:
            a resumed session, which translation engines run).
        holding_message: What paused screens show when the operator gives no message.
        figures_every_s: How often the figures are published.
        programme: The event programme (the speakers the operator picks from).
        title: The session's title when it is not recorded (a record knows its own:
            ``--title``, a resumed session's, a new session's).
    """

    def __init__(self, engine, source: AudioSource, bus: CaptionBus, *,
                 labels: dict[str, str] | None = None, controls: Controls | None = None,
                 record: CurrentRecord | None = None,
                 translation: TranslationFactory | None = None,
                 router: TrackRouter | None = None, glossary: Glossary = Glossary(),
                 hotwords: bool = True, live_params: LiveParams = LiveParams(),
                 policy_params: StreamingParams = StreamingParams(),
                 announcements: Iterable[Status] = (), holding_message: str = "",
                 figures_every_s: float = FIGURES_EVERY_S,
                 programme: Programme = Programme(), title: str = "") -> None:
        self.bus = bus
        self._title = title
        self.programme = programme
        self.source = source
        self.engine = engine
        self.record = record
        self.controls = controls or Controls()
        self.holding_message = holding_message
        self.figures_every_s = figures_every_s
        self.gate = ScreenGate()
        self.languages: tuple[str, ...] = tuple(getattr(engine, "languages", None)
                                                or LANGUAGES)
        sinks: list[Callable[[Caption | Status], None]] = []
        taps: list[Callable[[AudioChunk], None]] = []
        if record is not None:
            sinks.append(record.journal_sink())
            tap = record.recorder_tap()
            if tap is not None:
                taps.append(tap)
        sinks.append(self._to_screens)
        self.pipeline = LivePipeline(
            engine, source, sinks, sources_label=labels, controls=self.controls,
            live_params=live_params, policy_params=policy_params,
            first_seq=(record.journal.last_seq or 0) + 1 if record else 1,
            glossary=glossary, hotwords=hotwords, router=router, translation=translation,
            audio_taps=taps, time_offset_s=record.record.offset_s if record else 0.0,
            session_title=lambda: self.title)
        if record is not None:
            record.bind(self.pipeline.announce)
        for status in announcements:
            self.pipeline.announce(status)
        self._session_lock = asyncio.Lock()
        bus.serve_commands(self.handle)
        self.publish_figures()  # the audiences know the room before it runs

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self.source.inputs)

    @property
    def title(self) -> str:
        """The current session's title; empty when it has none."""
        if self.record is not None:
            return self.record.title
        return self._title

    def _to_screens(self, event: Caption | Status) -> None:
        """The last sink: what the screen gate lets through goes onto the bus; a caption
        it holds back goes on as held, for the operator's eyes only."""
        out = self.gate.forward(event)
        if not out and isinstance(event, Caption):
            self.bus.publish(event, held=True)  # the gate forwards every status
        for forwarded in out:
            self.bus.publish(forwarded)
        self.controls.paused = self.gate.paused  # the screens' state is the truth

    # -- running --------------------------------------------------------------------------

    async def run(self) -> SessionStats:
        """Runs the pipeline until its source ends or :meth:`stop`; publishes figures
        and keeps the journal synced meanwhile."""
        tasks = [asyncio.create_task(self.publish_figures_periodically(), name="room-figures")]
        if self.record is not None:
            tasks.append(asyncio.create_task(self.record.sync_periodically(),
                                             name="journal-sync"))
        try:
            return await self.pipeline.run()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.publish_figures()

    def stop(self) -> None:
        self.pipeline.stop()

    async def publish_figures_periodically(self) -> None:
        """Publishes the figures every ``figures_every_s`` until cancelled; moves the
        programme item on by the schedule when the operator asked for that."""
        while True:
            if self.controls.auto_advance:
                for event in follow_schedule(self.controls, self.programme,
                                             datetime.now().time()).events:
                    log.info("programme: %s (by the schedule)", event.detail.get("title"))
                    self.pipeline.publish(event)
            self.publish_figures()
            await asyncio.sleep(self.figures_every_s)

    def publish_figures(self) -> None:
        try:
            self.bus.publish_figures(self.figures())
        except Exception:  # the figures must never stop the captions
            log.exception("room: figures failed")

    def figures(self) -> RoomFigures:
        """A snapshot of the room for the operator console and ``/healthz``."""
        pipeline = self.pipeline
        workers = pipeline.workers
        inputs = []
        for input_id in self.inputs:
            worker = workers.get(input_id)
            backlog = sum(len(c.samples) for c in worker.queue) if worker else 0
            inputs.append(InputFigures(
                id=input_id, source=pipeline.labels.get(input_id, "floor"),
                enabled=self.controls.input_enabled(input_id),
                passes=worker.passes if worker else 0,
                dropped_chunks=worker.dropped_chunks if worker else 0,
                backlog_chunks=len(worker.queue) if worker else 0,
                backlog_s=round(backlog / SAMPLE_RATE, 1),
                asr_seconds=round(worker.asr_seconds, 3) if worker else 0.0))
        placement = getattr(self.engine, "placement", None)
        translation = pipeline.translation
        return RoomFigures(
            at_ns=time.time_ns(), inputs=tuple(inputs), languages=self.languages,
            placement=Placement(getattr(placement, "device", None),
                                getattr(placement, "compute_type", None),
                                getattr(placement, "threads", None)),
            forced_language=self.controls.forced_language, paused=self.gate.paused,
            held=self.gate.held, committed=pipeline.stats.committed,
            translation_engines={src: getattr(e, "name", "?")
                                 for src, e in (translation.engines.items()
                                                if translation else ())},
            translation_queue=translation.pending if translation else 0,
            translation_dropped=translation.dropped if translation else 0,
            recording=self.record.record.figures() if self.record else None,
            input_pass=self.source.passes if isinstance(self.source, FileSource) else None,
            speed=float(getattr(self.source, "speed", 1.0) or 0.0),
            time_offset_s=pipeline.time_offset_s,
            new_session=self.record is not None, programme=self.programme,
            item=self.controls.item, speaker=self.controls.speaker,
            auto_advance=self.controls.auto_advance, title=self.title)

    # -- commands -------------------------------------------------------------------------

    async def handle(self, command: Command) -> Ack:
        """Applies one validated command; the statuses it causes go through the
        pipeline (journal, gate, bus) before the acknowledgement is returned."""
        try:
            outcome = apply(command, self.controls, holding_message=self.holding_message,
                            programme=self.programme)
            for event in outcome.events:
                self.pipeline.publish(event)
            session = None
            if outcome.new_session is not None:
                session = await self._new_session(outcome.new_session)
            log.info("operator: %s%s", command.name,
                     "" if outcome.changed else " (no change)")
            return Ack(command.id, command.name, outcome.changed, session)
        except CommandError as exc:
            return Ack(command.id, command.name, changed=False, error=str(exc))
        finally:
            self.publish_figures()

    async def _new_session(self, title: str) -> dict[str, str]:
        if self.record is None:
            raise CommandError("recording is off: there is no session to start")
        if self._session_lock.locked():
            raise CommandError("a new session is already being started")
        async with self._session_lock:
            try:
                info = await self.record.new_session(title)
            except CaptionerError as exc:
                log.error("operator: new session failed: %s", exc)
                raise CommandError(f"could not start a new session: {exc}") from None
            except Exception:
                log.exception("operator: new session failed")
                raise CommandError("could not start a new session (see the server log)") \
                    from None
        now = time.time_ns()
        self.pipeline.publish(Status("session_started", now, detail={
            **info, "title": title, "by": "operator"}))
        self.pipeline.publish(Status("clear", now, detail={"by": "operator"}))
        return info


def resumed_journal(record: CurrentRecord | None) -> JournalRead | None:
    """What a resumed session's journal held when this run opened it again: the
    committed captions, for the bus to replay to viewers, and the statuses, with the
    operator's last settings. None for a new session, or none recorded."""
    return record.journal.resumed_from if record is not None else None
