"""``captioner run``: builds a live session from the config and arguments, and runs it.

This is the composition root of the main job: source, Whisper, track routing,
translation, caption server and session record are built here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from captioner.config import PROJECT_ROOT, Config, InputConfig
from captioner.delivery.wire import encode
from captioner.errors import CaptionerError
from captioner.events import Caption, Status
from captioner.inputs.sources import AudioSource, FileSource
from captioner.languages import other
from captioner.recognition.live import LiveParams
from captioner.room.controls import Controls
from captioner.room.pipeline import LivePipeline
from captioner.routing.glossary import Glossary
from captioner.routing.tracks import TrackRouter
from captioner.states import (
    RECORDING_ERROR,
    RECORDING_OK,
    SESSION_RESUMED,
    TRANSLATION_AVAILABLE,
    TRANSLATION_DEGRADED,
    TRANSLATION_UNAVAILABLE,
)

log = logging.getLogger(__name__)

DEMO_RECORDING = PROJECT_ROOT / "captioner" / "data" / "demo_session.ogg"
# The demo recording: floor speech on channel 1, the interpreters' booth on channel 2.
DEMO_INPUTS = (InputConfig("floor", "floor", "demo", 1),
               InputConfig("booth", "interpretation", "demo", 2))


@dataclass(frozen=True)
class RunOptions:
    """What ``captioner run`` was asked to do."""

    input: str | None
    speed: float = 1.0
    print_events: bool = False
    language: str | None = None
    session_root: str | None = None
    title: str | None = None
    record: bool = True
    serve: bool = True
    host: str | None = None
    port: int | None = None
    resume: str | None = None
    exit_at_end: bool = False

    @property
    def keep_serving(self) -> bool:
        """Whether the views stay up after the input ends (and the demo loops).

        Only when serving, and neither ``--print`` nor ``--exit-at-end`` asked for a
        run that ends with its input (scripts and benchmarks).
        """
        return self.serve and not self.print_events and not self.exit_at_end


def _channel_map(inputs: tuple[InputConfig, ...]) -> dict[str, int]:
    """Input id -> 0-based channel (-1 mixes all), from 1-based config channels."""
    return {i.id: i.channel - 1 if i.channel > 0 else -1 for i in inputs}


def _looks_like_file(spec: str) -> bool:
    path = Path(spec).expanduser()
    return path.exists() or any(sep in spec for sep in "/\\") or bool(path.suffix)


def _default_device_available() -> bool:
    try:
        from captioner.inputs.devices import list_devices

        return any(d.is_default for d in list_devices())
    except Exception as exc:  # no PortAudio, no sound server: treat as no microphone
        log.info("no capture device: %s", exc)
        return False


def plan_inputs(cfg: Config, spec: str | None) -> tuple[str, str, tuple[InputConfig, ...]]:
    """Decides what to capture: ("file", path, inputs), ("url", url, inputs),
    ("device", name, inputs) or ("demo", path, inputs).

    ``--input`` wins over the config's devices. Anything with ``://`` in it is a network
    stream. With neither a file nor a microphone, the embedded demo recording plays
    (floor and booth channels): the "demo" plan, a file that may loop.
    """
    inputs = cfg.inputs
    if spec is None:
        devices = {i.device for i in inputs}
        if len(devices) > 1:
            raise CaptionerError(f"inputs on different devices ({', '.join(sorted(devices))}) "
                                 "are not supported yet",
                                 hint="take floor and booth from two channels of one device")
        spec = devices.pop()
        if spec in ("default", "mic") and not _default_device_available():
            log.warning("no microphone found: playing the demo recording %s", DEMO_RECORDING)
            return "demo", str(DEMO_RECORDING), DEMO_INPUTS
    if "://" in spec:
        return "url", spec, inputs
    if _looks_like_file(spec):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise CaptionerError(f"{path}: no such file")
        return "file", str(path), inputs
    return "device", spec, inputs


async def open_source(plan: tuple[str, str, tuple[InputConfig, ...]],
                      speed: float, loop: bool = False) -> AudioSource:
    """The audio source for a plan from :func:`plan_inputs`.

    ``loop`` plays a "demo" plan again each time it ends. A network stream is connected
    to here, so that a wrong URL fails at once (in a thread: connecting may take the
    stream's open timeout); ``speed`` paces a stream only when it is a recording (see
    :mod:`captioner.inputs.netsource`).

    Raises:
        CaptionerError: an unknown device, said in one line with the devices there are;
            a network stream that cannot be opened.
    """
    kind, target, inputs = plan
    channels = _channel_map(inputs)
    if kind in ("file", "demo"):
        return FileSource(target, channels=channels, speed=speed,
                          loop=loop and kind == "demo")
    if kind == "url":
        from captioner.inputs.netsource import NetworkSource

        source = NetworkSource(target, channels, speed=speed)
        await asyncio.to_thread(source.connect)
        return source
    from captioner.inputs.capture import MicrophoneSource
    from captioner.inputs.devices import resolve_device

    resolve_device(target)  # fail now, with the list of devices, if it does not exist
    return MicrophoneSource(target, channels)


def printer(stream=sys.stdout) -> Callable[[Caption | Status], None]:
    """A sink that writes every event as a JSON line (for ``--print``)."""

    def sink(event: Caption | Status) -> None:
        if isinstance(event, Status) and event.state == "levels":
            return
        stream.write(encode(event) + "\n")
        stream.flush()

    return sink


async def build_translation(cfg: Config, engine, pipeline_audio_for, executor, emit,
                            glossary: Glossary, store_root: Path):
    """The machine-translation stage, or None, and a start-up status per direction.

    Each direction is ``translation_available`` (with its engine; after a
    ``translation_degraded`` when a broken package left Whisper to stand in), or
    ``translation_unavailable``. A view that kept a notice from an earlier run of the
    session clears it on ``translation_available``.

    Finding, loading and warming up the packages takes seconds and runs in a thread;
    the stage itself is built on the loop it runs on.
    """
    if cfg.translation.engine == "none":
        return None, []
    from captioner.routing.mt import MachineTranslation

    engines, statuses = await asyncio.to_thread(_translation_engines, cfg, engine, glossary,
                                                store_root)
    if not engines:
        return None, statuses
    return MachineTranslation(engines, executor, emit, glossary,
                              audio_for=pipeline_audio_for), statuses


def _translation_engines(cfg: Config, engine, glossary: Glossary,
                         store_root: Path) -> tuple[dict, list[Status]]:
    """Source language -> engine, and the statuses of the directions without one
    (blocking: loads and warms up the Argos packages)."""
    from captioner.routing.mt import ArgosEngine, WhisperTranslateEngine
    from captioner.routing.translate import ArgosTranslator, choose_engine, discover_packages

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


def live_params(cfg: Config) -> LiveParams:
    """The live loop's settings that come from the config (the rest keep their defaults).

    Args:
        cfg: The loaded config.

    Returns:
        LiveParams whose final passes decode with ``asr.beam_size``.
    """
    return LiveParams(beam_size=cfg.asr.beam_size)


async def run_session(cfg: Config, opts: RunOptions, engine,
                      plan: tuple[str, str, tuple[InputConfig, ...]] | None = None) -> int:
    """Runs one live session until the user interrupts, or the input ends.

    With :attr:`RunOptions.keep_serving`, the demo loops and the views stay up after a
    file or stream ends, until Ctrl-C; otherwise the run ends with its input.
    """
    from captioner.store.models import default_root

    plan = plan or plan_inputs(cfg, opts.input)
    demo = plan[0] == "demo"
    source = await open_source(plan, opts.speed, loop=demo and opts.keep_serving)
    if demo:
        print("captioner: DEMO: no microphone found; playing the demo recording "
              f"{'in a loop until Ctrl-C' if opts.keep_serving else 'once'}", file=sys.stderr)
    labels = {i.id: i.source for i in plan[2]}
    controls = Controls(forced_language=opts.language)
    glossary = Glossary(cfg.glossary.terms)
    hotwords = cfg.glossary.hotwords and bool(cfg.glossary.terms)
    sinks: list[Callable[[Caption | Status], None]] = []
    if opts.print_events:
        sinks.append(printer())
    record = _open_record(cfg, opts, source) if opts.record else None
    # The current record: the operator console's "new session" replaces it mid-run.
    holder: dict[str, Record | None] = {"record": record}
    session = record.session if record else None
    journal = record.journal if record else None
    server = None
    broadcaster = None
    if opts.serve:
        from captioner.delivery.broadcast import Broadcaster
        from captioner.delivery.wire import layout_to_dict

        broadcaster = Broadcaster(history_per_track=cfg.server.history_per_track,
                                  client_queue=cfg.server.client_queue,
                                  max_clients=cfg.server.max_clients,
                                  session=session.name if session else None,
                                  layout=layout_to_dict(cfg.captions))
        if journal is not None and journal.resumed_from is not None:
            # A resumed session: viewers catch up on what was said before the restart.
            for caption in journal.resumed_from.captions:
                broadcaster.publish(caption)
        sinks.append(broadcaster.publish)
    mt_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mt")
    pipeline = LivePipeline(engine, source, sinks, sources_label=labels, controls=controls,
                            live_params=live_params(cfg),
                            first_seq=(journal.last_seq or 0) + 1 if journal else 1,
                            glossary=glossary, hotwords=hotwords,
                            router=TrackRouter(cfg.translation.booth_hold_s,
                                               translate=cfg.translation.engine != "none"))
    translation, translation_statuses = await build_translation(
        cfg, engine, pipeline.audio_for, mt_executor, pipeline.publish, glossary,
        default_root(cfg.models.dir))
    pipeline.translation = translation
    if record is not None:
        pipeline.time_offset_s = record.offset_s
        if record.resumed is not None:
            pipeline.announce(record.resumed)
        # First of all sinks: a caption is on disk (in the kernel) before any screen,
        # or the --print output, shows it, so a crash loses nothing that was seen.
        sinks.insert(0, _journal_sink(lambda: holder["record"].journal, pipeline.announce))
        if record.recorder is not None:
            pipeline.audio_taps.append(_recorder_tap(lambda: holder["record"],
                                                     pipeline.announce))
    if translation is None:
        pipeline.router.translate_enabled = False
    for status in translation_statuses:
        pipeline.announce(status)
    if broadcaster is not None:
        from captioner.delivery.server import CaptionServer, terminal_qr

        server = CaptionServer(broadcaster, host=opts.host or cfg.server.host,
                               port=cfg.server.port if opts.port is None else opts.port,
                               health=lambda: _health(pipeline, holder["record"], source))
        try:
            await server.start()
        except OSError as exc:
            raise CaptionerError(f"cannot serve on port {server.port}: {exc.strerror or exc}",
                                 hint="another captioner may be running; use --port") from None
        _announce(server.urls(), terminal_qr)
        from captioner.delivery.operator import start_operator

        await start_operator(
            server, broadcaster, pipeline,
            token=cfg.server.operator_token or None,
            holding_message=cfg.server.holding_message,
            session_factory=(
                (lambda title: _new_record(cfg, opts, source, holder, title))
                if record is not None else None),
            recording=lambda: _record_info(holder["record"]),
            announce=lambda name, url: print(f"  {name:8} {url}", file=sys.stderr),
            info={"model": cfg.asr.model, "title": opts.title or "", "demo": demo})
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()

    def interrupt() -> None:
        interrupted.set()
        pipeline.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, interrupt)
    syncer = (asyncio.create_task(_sync_periodically(lambda: holder["record"].journal))
              if record is not None else None)
    try:
        stats = await pipeline.run()
        if opts.keep_serving and not interrupted.is_set():
            # A newcomer who opens the views later still finds the session there.
            print("captioner: the input has ended; still serving the session to the views "
                  "(Ctrl-C to stop; --exit-at-end exits here)", file=sys.stderr)
            await interrupted.wait()
    finally:
        if syncer:
            syncer.cancel()
        if server is not None:
            await server.close()
        mt_executor.shutdown(wait=False, cancel_futures=True)
        if holder["record"] is not None:
            record = holder["record"]
            record.close()
            print(f"captioner: session recorded in {record.session.path}; export it with: "
                  f"captioner export {record.session.path}", file=sys.stderr)
    log.info("session ended: %d committed captions", stats.committed)
    return 0


def _announce(urls: dict[str, str], qr: Callable[[str], str | None]) -> None:
    print("captioner: serving captions", file=sys.stderr)
    for name in ("screen", "overlay", "phone", "ws"):
        print(f"  {name:8} {urls[name]}", file=sys.stderr)
    code = qr(urls["phone"])
    if code:
        print(code, file=sys.stderr)


def _health(pipeline: LivePipeline, record: Record | None, source: AudioSource) -> dict:
    return {
        "committed": pipeline.stats.committed,
        # Which pass of a recording plays (the demo loops); absent for live inputs.
        **({"input_pass": source.passes} if isinstance(source, FileSource) else {}),
        "inputs": {k: {"passes": w.passes, "dropped_chunks": w.dropped_chunks}
                   for k, w in pipeline.workers.items()},
        "translation": pipeline.translation is not None,
        "recording": record is not None,
    }


@dataclass
class Record:
    """The session record of one run: folder, journal, audio recorder.

    Attributes:
        resumed: The ``session_resumed`` status of a run that continues a recorded
            session (``--session``), to announce once the inputs listen; else None.
    """

    session: object
    journal: object
    recorder: object | None
    offset_s: float
    executor: ThreadPoolExecutor
    resumed: Status | None = None

    def close(self) -> None:
        if self.recorder is not None:
            # Queued writes finish first (one worker, in order), then the files close.
            self.executor.submit(self.recorder.close).result()
        self.executor.shutdown(wait=True)
        self.journal.close()
        try:
            self.session.close()
        except (CaptionerError, OSError) as exc:
            # The journal already holds every caption; only the stop time is lost.
            log.error("could not record the session's stop time: %s", exc)


def _open_record(cfg: Config, opts: RunOptions, source: AudioSource) -> Record:
    """The session folder, new or resumed, with its journal and audio recorder."""
    from captioner.record.session import SessionDir

    offset = 0.0
    try:
        if opts.resume:
            session = SessionDir.open(opts.resume)
            offset = session.mark_resumed()
        else:
            session = SessionDir.create(
                cfg.session.root if opts.session_root is None else opts.session_root,
                opts.title, config=dataclasses.asdict(cfg), models={"asr": cfg.asr.model},
                inputs=list(source.inputs))
        journal = session.open_journal()
    except OSError as exc:
        raise CaptionerError(f"cannot open the session record: {exc.strerror or exc}",
                             hint="check the disk and --sessions") from None
    resumed = None
    if opts.resume:
        log.warning("resuming %s after seq %d (stream time +%.1f s)", session.path,
                    journal.last_seq or 0, offset)
        resumed = Status(SESSION_RESUMED, time.time_ns(), detail={
            "name": session.name, "after_seq": journal.last_seq, "offset_s": round(offset, 3)})
    recorder = session.recorder() if cfg.session.record_audio else None
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder")
    return Record(session, journal, recorder, offset, executor, resumed)


class _Health:
    """Turns a component's failures into one status on failure and one on recovery."""

    def __init__(self, component: str, announce: Callable[[Status], None]) -> None:
        self.component = component
        self.announce = announce
        self.failing = False

    def update(self, ok: bool, error: str | None) -> None:
        if ok == (not self.failing):
            return
        self.failing = not ok
        state = RECORDING_OK if ok else RECORDING_ERROR
        log.log(logging.INFO if ok else logging.ERROR, "%s: %s", self.component,
                "recovered" if ok else error)
        self.announce(Status(state, time.time_ns(), detail={
            "component": self.component, "error": error or ""}))


def _journal_sink(current: Callable[[], object], announce: Callable[[Status], None]
                  ) -> Callable[[Caption | Status], None]:
    from captioner.record.journal import is_journaled

    health = _Health("journal", announce)

    def sink(event: Caption | Status) -> None:
        # A journal write is one os.write to the kernel (fsync at most every 0.5 s),
        # so it is cheap enough for the loop; a full disk returns False, never raises,
        # and the screens go on captioning.
        if is_journaled(event):
            journal = current()
            ok = journal.append(event)
            health.update(ok, journal.error)

    return sink


def _recorder_tap(current: Callable[[], Record], announce: Callable[[Status], None]):
    """Hands each chunk to the current record's recorder on its own thread, in order."""
    health = _Health("audio recording", announce)
    loop = asyncio.get_running_loop()

    def tap(chunk) -> None:
        record = current()
        recorder = record.recorder
        if recorder is None:
            return

        def done(future) -> None:
            ok = bool(future.result()) if not future.exception() else False
            loop.call_soon_threadsafe(health.update, ok, recorder.error)

        future = record.executor.submit(recorder.write, chunk.input_id, chunk.samples,
                                        chunk.start_s)
        future.add_done_callback(done)

    return tap


async def _sync_periodically(current: Callable[[], object], every_s: float = 0.5) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(every_s)
        await loop.run_in_executor(None, current().sync)


async def _new_record(cfg: Config, opts: RunOptions, source: AudioSource, holder: dict,
                      title: str) -> dict:
    """The operator's "new session": a new folder, journal and recorder; the old closed.

    Sequence numbers and stream times go on (see docs/operator.md).
    """
    loop = asyncio.get_running_loop()
    new_opts = dataclasses.replace(opts, title=title or opts.title, resume=None)
    new = await loop.run_in_executor(None, _open_record, cfg, new_opts, source)
    old, holder["record"] = holder["record"], new  # on the loop: the next event goes here
    await loop.run_in_executor(None, old.close)
    print(f"captioner: session recorded in {old.session.path}; export it with: "
          f"captioner export {old.session.path}", file=sys.stderr)
    return {"name": new.session.name, "path": str(new.session.path)}


def _record_info(record: Record | None) -> dict | None:
    """What the operator console shows about the record."""
    if record is None:
        return None
    recorder = record.recorder
    healthy = record.journal.healthy and (recorder is None or recorder.healthy)
    return {"name": record.session.name, "path": str(record.session.path),
            "healthy": healthy,
            "error": record.journal.error or (recorder.error if recorder else None)}
