"""``captioner run``: decides the inputs, opens the source, and runs a room and its
audiences until the input ends or the user interrupts.

The room is built by :func:`captioner.room.build.build_room` and its serving side by
:func:`captioner.delivery.serving.build_serving`; this module only connects the two
through the room's bus, and owns the process's signals and shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from captioner.config import PROJECT_ROOT, Config, InputConfig
from captioner.errors import CaptionerError
from captioner.inputs.sources import AudioSource, FileSource

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
    bus: str | None = None
    room: str | None = None

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


async def run_session(cfg: Config, opts: RunOptions, engine,
                      plan: tuple[str, str, tuple[InputConfig, ...]] | None = None) -> int:
    """Runs one live session until the user interrupts, or the input ends.

    With :attr:`RunOptions.keep_serving`, the demo loops and the views stay up after a
    file or stream ends, until Ctrl-C; otherwise the run ends with its input.
    """
    from captioner.delivery.serving import ServingPlan, build_serving
    from captioner.delivery.views import terminal_qr
    from captioner.room.build import RoomPlan, build_room
    from captioner.room.uplink import room_id, start_uplink
    from captioner.store.models import default_root

    plan = plan or plan_inputs(cfg, opts.input)
    demo = plan[0] == "demo"
    source = await open_source(plan, opts.speed, loop=demo and opts.keep_serving)
    if demo:
        print("captioner: DEMO: no microphone found; playing the demo recording "
              f"{'in a loop until Ctrl-C' if opts.keep_serving else 'once'}", file=sys.stderr)
    bus_url = opts.bus or cfg.bus.url
    room_name = room_id(cfg.bus, opts.room) if bus_url else "room"
    mt_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mt")
    room = await build_room(
        cfg, RoomPlan(room=room_name, inputs=plan[2], language=opts.language,
                      record=opts.record, session_root=opts.session_root, title=opts.title,
                      resume=opts.resume),
        engine, source, mt_executor, default_root(cfg.models.dir))
    serving = uplink = None
    try:
        if bus_url:
            uplink = await start_uplink(cfg.bus, bus_url, room)
        serving = await build_serving(
            cfg, ServingPlan(serve=opts.serve, print_events=opts.print_events, host=opts.host,
                             port=opts.port,
                             session=room.record.record.session.name if room.record else None,
                             info={"model": cfg.asr.model, "title": opts.title or "",
                                   "demo": demo}),
            room.bus, announce=lambda name, url: print(f"  {name:8} {url}", file=sys.stderr),
            qr=terminal_qr)
        stats = await _run(room, opts)
    finally:
        if uplink is not None:
            await uplink.close()
        if serving is not None:
            await serving.close()
        mt_executor.shutdown(wait=False, cancel_futures=True)
        if room.record is not None:
            room.record.close()
    log.info("session ended: %d committed captions", stats.committed)
    return 0


async def _run(room, opts: RunOptions):
    """Runs the room; with ``keep_serving``, waits for Ctrl-C after its input ends."""
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()

    def interrupt() -> None:
        interrupted.set()
        room.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, interrupt)
    stats = await room.run()
    if opts.keep_serving and not interrupted.is_set():
        # A newcomer who opens the views later still finds the session there.
        print("captioner: the input has ended; still serving the session to the views "
              "(Ctrl-C to stop; --exit-at-end exits here)", file=sys.stderr)
        await interrupted.wait()
    return stats
