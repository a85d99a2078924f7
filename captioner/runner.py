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
    pipeline = LivePipeline(engine, source, sinks, controls=controls)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, pipeline.stop)
    stats = await pipeline.run()
    log.info("session ended: %d committed captions", stats.committed)
    return 0
