"""``captioner run``: builds a live session from the config and arguments, and runs it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from captioner.config import PROJECT_ROOT, Config
from captioner.errors import CaptionerError
from captioner.events import Caption, Status
from captioner.pipeline import Controls, LivePipeline
from captioner.sources import AudioSource, FileSource
from captioner.wire import encode

log = logging.getLogger(__name__)

DEMO_RECORDING = PROJECT_ROOT / "captioner" / "data" / "demo_session.ogg"


@dataclass(frozen=True)
class RunOptions:
    """What ``captioner run`` was asked to do."""

    input: str | None
    speed: float = 1.0
    print_events: bool = False
    language: str | None = None
    loop: bool = False
    session_root: str = "sessions"
    title: str | None = None
    record: bool = True


def open_source(spec: str | None, speed: float) -> AudioSource:
    """The source for ``--input``: a file path, else a capture device (issue: capture).

    Raises:
        CaptionerError: nothing usable was named.
    """
    if spec is None:
        if DEMO_RECORDING.exists():
            log.warning("no --input given: playing the demo recording %s (floor channel)",
                        DEMO_RECORDING)
            return FileSource(DEMO_RECORDING, channels={"floor": 0}, speed=speed)
        raise CaptionerError("no input given", hint="use --input FILE")
    path = Path(spec).expanduser()
    if path.exists() or any(sep in spec for sep in "/\\") or path.suffix:
        if not path.exists():
            raise CaptionerError(f"{path}: no such file")
        return FileSource(path, speed=speed)
    raise CaptionerError(f"input {spec!r}: not a file, and live capture is not available",
                         hint="give an audio file path")


def printer(stream=sys.stdout) -> Callable[[Caption | Status], None]:
    """A sink that writes every event as a JSON line (for ``--print``)."""

    def sink(event: Caption | Status) -> None:
        if isinstance(event, Status) and event.state == "levels":
            return
        stream.write(encode(event) + "\n")
        stream.flush()

    return sink


async def run_session(cfg: Config, opts: RunOptions, engine) -> int:
    """Runs one live session until the input ends or the user interrupts."""
    source = open_source(opts.input, opts.speed)
    controls = Controls(forced_language=opts.language)
    sinks: list[Callable[[Caption | Status], None]] = []
    if opts.print_events:
        sinks.append(printer())
    session = journal = None
    if opts.record:
        session, journal = _open_record(cfg, opts, source)
        sinks.append(_journal_sink(journal))
    pipeline = LivePipeline(engine, source, sinks, controls=controls,
                            first_seq=(journal.last_seq or 0) + 1 if journal else 1)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, pipeline.stop)
    syncer = asyncio.create_task(_sync_periodically(journal)) if journal else None
    try:
        stats = await pipeline.run()
    finally:
        if syncer:
            syncer.cancel()
        if journal is not None:
            journal.close()
        if session is not None:
            session.close()
            print(f"captioner: session recorded in {session.path}; export it with: "
                  f"captioner export {session.path}", file=sys.stderr)
    log.info("session ended: %d committed captions", stats.committed)
    return 0


def _open_record(cfg: Config, opts: RunOptions, source: AudioSource):
    """A new session folder with its journal (the organisers' record of the event)."""
    import dataclasses

    from captioner.session import SessionDir

    try:
        session = SessionDir.create(
            opts.session_root, opts.title, config=dataclasses.asdict(cfg),
            models={"asr": cfg.asr.model}, inputs=list(source.inputs))
    except OSError as exc:
        raise CaptionerError(f"cannot create a session folder in {opts.session_root}: "
                             f"{exc.strerror or exc}") from None
    return session, session.open_journal()


def _journal_sink(journal) -> Callable[[Caption | Status], None]:
    from captioner.journal import is_journaled

    def sink(event: Caption | Status) -> None:
        # A journal write is one os.write to the kernel (fsync at most every 0.5 s),
        # so it is cheap enough for the loop; a full disk returns False, never raises.
        if is_journaled(event) and not journal.append(event):
            log.error("journal: %s", journal.error)

    return sink


async def _sync_periodically(journal, every_s: float = 0.5) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(every_s)
        await loop.run_in_executor(None, journal.sync)
