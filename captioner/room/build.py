"""The composition root of a room: everything a live room needs, built in one call.

:func:`build_room` opens the session record, finds and warms up the translation
engines, and constructs the :class:`~captioner.room.room.Room` with its bus. Nothing
is assigned onto a built object afterwards. The serving side is built by
:func:`captioner.delivery.serving.build_serving`, from the bus alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from pathlib import Path

from captioner.bus.local import LocalBus
from captioner.config import Config, InputConfig
from captioner.errors import CaptionerError
from captioner.events import Status
from captioner.inputs.sources import AudioSource
from captioner.languages import other
from captioner.programme import programme_to_data
from captioner.recognition.schedule import LiveParams
from captioner.record.current import CurrentRecord, RecordRequest, open_record
from captioner.room.controls import restored
from captioner.room.pipeline import TranslationFactory
from captioner.room.room import Room, resumed_journal
from captioner.routing.glossary import Glossary
from captioner.routing.tracks import TrackRouter
from captioner.states import (
    TRANSLATION_AVAILABLE,
    TRANSLATION_DEGRADED,
    TRANSLATION_UNAVAILABLE,
)

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RoomPlan:
    """What a room is asked to be, besides its config.

    Attributes:
        room: The room's id on the bus.
        inputs: The inputs' configs (id, source label, device, channel).
        language: A language forced from the start (``--language``), or None.
        record: Whether the session is recorded.
        session_root: Where session folders go (None: the config's).
        title: The session's title.
        resume: A session folder to continue.
    """

    room: str = "room"
    inputs: tuple[InputConfig, ...] = ()
    language: str | None = None
    record: bool = True
    session_root: str | None = None
    title: str | None = None
    resume: str | None = None


def live_params(cfg: Config) -> LiveParams:
    """The live loop's settings that come from the config (the rest keep their defaults).

    Returns:
        LiveParams whose final passes decode with ``asr.beam_size``.
    """
    return LiveParams(beam_size=cfg.asr.beam_size)


def record_request(cfg: Config, plan: RoomPlan, source: AudioSource) -> RecordRequest:
    return RecordRequest(
        root=cfg.session.root if plan.session_root is None else plan.session_root,
        title=plan.title, config=dataclasses.asdict(cfg), models={"asr": cfg.asr.model},
        inputs=tuple(source.inputs), record_audio=cfg.session.record_audio,
        resume=plan.resume, programme=tuple(programme_to_data(cfg.programme)))


async def build_room(cfg: Config, plan: RoomPlan, engine, source: AudioSource,
                     executor: Executor, store_root: Path) -> Room:
    """Builds a complete room over an in-process bus.

    Args:
        cfg: The loaded config.
        plan: What the room is asked to be.
        engine: The loaded Whisper model.
        source: The opened audio source.
        executor: Where machine translation runs (one worker).
        store_root: The model store (translation packages).

    Raises:
        CaptionerError: The session record cannot be opened.
    """
    record = None
    if plan.record:
        request = record_request(cfg, plan, source)
        record = CurrentRecord(await asyncio.to_thread(open_record, request), request)
    glossary = Glossary(cfg.glossary.terms)
    translation, statuses = await build_translation(cfg, engine, executor, glossary,
                                                    store_root)
    resumed = record.record.resumed if record is not None else None
    earlier = resumed_journal(record)
    bus = LocalBus(plan.room, retained=tuple(earlier.captions) if earlier else ())
    return Room(
        engine, source, bus, labels={i.id: i.source for i in plan.inputs},
        controls=restored(earlier.statuses if earlier else (), cfg.programme,
                          plan.language),
        record=record,
        translation=translation,
        router=TrackRouter(cfg.translation.booth_hold_s, translate=translation is not None),
        glossary=glossary, hotwords=cfg.glossary.hotwords and bool(cfg.glossary.terms),
        live_params=live_params(cfg),
        announcements=[*([resumed] if resumed is not None else []), *statuses],
        holding_message=cfg.server.holding_message, programme=cfg.programme,
        title=plan.title or "")


async def build_translation(cfg: Config, engine, executor: Executor, glossary: Glossary,
                            store_root: Path) -> tuple[TranslationFactory | None, list[Status]]:
    """The machine-translation stage's factory, or None, and a start-up status per
    direction.

    Each direction is ``translation_available`` (with its engine; after a
    ``translation_degraded`` when a broken package left Whisper to stand in), or
    ``translation_unavailable``. A view that kept a notice from an earlier run of the
    session clears it on ``translation_available``.

    Finding, loading and warming up the packages takes seconds and runs in a thread;
    the stage itself is built by the pipeline, on the loop it runs on, from the
    pipeline's own ``audio_for`` and ``publish``.
    """
    if cfg.translation.engine == "none":
        return None, []
    from captioner.routing.mt import MachineTranslation

    engines, statuses = await asyncio.to_thread(_translation_engines, cfg, engine, glossary,
                                                store_root)
    if not engines:
        return None, statuses

    def factory(audio_for, emit) -> MachineTranslation:
        return MachineTranslation(engines, executor, emit, glossary, audio_for=audio_for)

    return factory, statuses


def _translation_engines(cfg: Config, engine, glossary: Glossary,
                         store_root: Path) -> tuple[Mapping, list[Status]]:
    """Source language -> engine, and the statuses of the directions without one
    (blocking: loads and warms up the Argos packages)."""
    from captioner.routing.argos import ArgosTranslator, discover_packages
    from captioner.routing.mt import ArgosEngine, WhisperTranslateEngine
    from captioner.routing.translate import choose_engine

    packages = discover_packages(store_root) if cfg.translation.engine != "whisper" else []
    engines: dict = {}
    statuses: list[Status] = []
    for src in cfg.asr.languages:
        dst = other(src)
        choice = choose_engine((src, dst), packages,
                               whisper_fallback_available=cfg.translation.engine != "argos")
        reason = choice.reason
        if choice.engine == "argos":
            try:
                translator = ArgosTranslator(choice.package, intra_threads=cfg.translation.threads,
                                             beam_size=cfg.translation.beam_size)
                translator.warm_up()
                engines[src] = ArgosEngine(translator, glossary)
                log.info("translation %s->%s: %s", src, dst, choice.reason)
                statuses.append(_translation_available(src, dst, engines[src].name))
                continue
            except (CaptionerError, RuntimeError, ValueError, OSError) as exc:
                # A broken package must not stop the captions: say so, and fall back.
                message = getattr(exc, "message", None) or f"{choice.package.path}: {exc}"
                hint = getattr(exc, "hint", None)
                reason = f"{message} ({hint})" if hint else message
                log.error("translation %s->%s: %s", src, dst, reason)
                choice = choose_engine((src, dst), [], cfg.translation.engine != "argos")
        if choice.engine is not None:
            engines[src] = WhisperTranslateEngine(engine)
            log.warning("translation %s->%s: %s", src, dst, choice.reason)
            if reason != choice.reason:  # the package failed: the operator should know
                statuses.append(Status(TRANSLATION_DEGRADED, time.time_ns(), detail={
                    "direction": f"{src}->{dst}", "lang": dst, "reason": reason}))
            statuses.append(_translation_available(src, dst, engines[src].name))
            continue
        log.warning("translation %s->%s unavailable: %s", src, dst, reason)
        statuses.append(Status(TRANSLATION_UNAVAILABLE, time.time_ns(), detail={
            "direction": f"{src}->{dst}", "lang": dst, "reason": reason}))
    return engines, statuses


def _translation_available(src: str, dst: str, engine_name: str) -> Status:
    return Status(TRANSLATION_AVAILABLE, time.time_ns(), detail={
        "direction": f"{src}->{dst}", "lang": dst, "engine": engine_name})
