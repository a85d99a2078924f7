"""What each CLI command does, given parsed arguments. Returns exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from captioner.config import Config, load_config
from captioner.errors import CaptionerError, ModelError
from captioner.store.catalog import CATALOG
from captioner.store.models import ModelStore, default_root

log = logging.getLogger(__name__)


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config, args.overrides)


def _store(cfg: Config) -> ModelStore:
    return ModelStore(default_root(cfg.models.dir))


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit in ("B", "KB") else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def models(args: argparse.Namespace) -> int:
    cfg = _config(args)
    store = _store(cfg)
    action = args.models_command
    if action == "list":
        return _models_list(store)
    if action == "install":
        return _models_install(store, args)
    if action == "verify":
        return _models_verify(store, args.names)
    if action == "remove":
        for name in args.names:
            print(f"{name}: {'removed' if store.remove(name) else 'not installed'}")
        return 0
    raise AssertionError(action)


def _models_list(store: ModelStore) -> int:
    installed = {m.name: m for m in store.installed()}
    print(f"model store: {store.root}")
    rows = [("NAME", "STATE", "SIZE", "CHECKSUMS", "SOURCE / DESCRIPTION")]
    for name, spec in CATALOG.items():
        model = installed.pop(name, None)
        if model is None:
            rows.append((name, "-", "", "", spec.description))
        else:
            sums = "pinned sha256" if model.pinned else "recorded at install"
            rows.append((name, "installed", _human(model.size_bytes), sums, model.source))
    for model in installed.values():
        rows.append((model.name, "installed", _human(model.size_bytes), "recorded at install",
                     model.source))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True))
              + "  " + row[4])
    return 0


def _models_install(store: ModelStore, args: argparse.Namespace) -> int:
    from captioner.store.fetch import install_model

    from_path = Path(args.from_path).expanduser() if args.from_path else None
    status = 0
    for name in args.names:
        try:
            try:
                model, already = install_model(store, name, from_path, force=args.force)
            except OSError as exc:  # a full disk, a read-only store: said, never a traceback
                raise ModelError(f"{name}: could not be written to the model store "
                                 f"{store.root}: {exc.strerror or exc}; nothing was "
                                 "installed",
                                 hint="free some disk space, or choose another store with "
                                 "CAPTIONER_MODELS or models.dir") from None
        except ModelError as exc:
            if len(args.names) == 1:
                raise
            print(f"captioner: error: {exc.message}", file=sys.stderr)
            if exc.hint:
                print(f"hint: {exc.hint}", file=sys.stderr)
            status = 1
            continue
        verb = "already installed" if already else "installed"
        print(f"{name}: {verb} at {model.path} ({_human(model.size_bytes)})")
    return status


def _models_verify(store: ModelStore, names: list[str]) -> int:
    from captioner.store.fetch import _bar

    targets = []
    for name in names or [m.name for m in store.installed()]:
        model = store.get(name)
        if model is None:
            raise ModelError(f"model {name!r} is not installed",
                             hint="see what is installed with: captioner models list")
        targets.append(model)
    if not targets:
        print("no models installed; try: captioner models install whisper-base")
        return 0
    bad = 0
    for model in targets:
        with _bar(model.size_bytes, f"verifying {model.name}") as bar:
            problems = store.verify(model, progress=bar.update)
        if problems:
            bad += 1
            print(f"{model.name}: DAMAGED")
            for p in problems:
                print(f"  {p.file}: {p.reason}")
        else:
            print(f"{model.name}: ok ({len(model.files)} files, {_human(model.size_bytes)})")
    if bad:
        print("hint: reinstall with: captioner models install NAME --force", file=sys.stderr)
    return 1 if bad else 0


def load_engine(cfg: Config, model: str | None = None):
    """Loads the configured Whisper model from the store."""
    from captioner.recognition.asr import WhisperEngine, choose_placement

    store = _store(cfg)
    path = store.resolve_whisper(model or cfg.asr.model)
    placement = choose_placement(cfg.asr.device, cfg.asr.compute_type, cfg.asr.threads)
    return WhisperEngine(path, placement, cfg.asr.languages)


def transcribe(args: argparse.Namespace) -> int:
    from captioner.recognition.transcribe import check_formats, transcribe_file

    cfg = _config(args)
    formats = check_formats(
        [f.strip() for f in args.format.split(",") if f.strip()] if args.format
        else cfg.transcribe.formats
    )
    language = args.language or cfg.asr.language
    if language != "auto" and language not in cfg.asr.languages:
        raise CaptionerError(f"--language {language}: not in asr.languages {cfg.asr.languages}")
    out_dir = Path(args.out or cfg.transcribe.out_dir or ".")
    engine = load_engine(cfg, args.model)
    failures = 0
    from captioner.recognition.retranscribe import is_session_dir, retranscribe_session

    for raw in args.inputs:
        if is_session_dir(Path(raw)):
            from captioner.record.docexport import export_command

            clean = retranscribe_session(engine, Path(raw), args.model or cfg.asr.model,
                                         None if language == "auto" else language,
                                         args.beam_size)
            print(f"{raw}: re-transcribed into {clean}", file=sys.stderr)
            failures += export_command(clean) != 0
            continue
        result = transcribe_file(engine, Path(raw), cfg, None if language == "auto" else language,
                                 formats, out_dir, args.beam_size)
        if not result.ok:
            failures += 1
            print(f"captioner: error: {result.error}", file=sys.stderr)
            continue
        if len(args.inputs) > 1:
            print(f"== {result.path} [{result.lang}]")
        print(result.text, flush=True)
        if not args.quiet:
            print(f"{result.path}: {result.lang}, {result.audio_s:.1f} s of audio in "
                  f"{result.elapsed_s:.1f} s; wrote {', '.join(map(str, result.outputs))}",
                  file=sys.stderr)
    if failures:
        print(f"captioner: {failures} of {len(args.inputs)} inputs failed", file=sys.stderr)
    return 1 if failures else 0


def run(args: argparse.Namespace) -> int:
    import asyncio

    from captioner.runner import RunOptions, plan_inputs, run_session

    cfg = _config(args)
    if args.programme:
        import dataclasses

        from captioner.programme import load_csv

        floor = [i.id for i in cfg.inputs if i.source == "floor"]
        cfg = dataclasses.replace(cfg, programme=load_csv(args.programme, floor))
    language = args.language or cfg.asr.language
    opts = RunOptions(input=args.input, speed=args.speed, print_events=args.print_events,
                      language=None if language == "auto" else language,
                      session_root=args.sessions, title=args.title, record=not args.no_record,
                      serve=not args.no_server, host=args.host, port=args.port,
                      resume=args.resume, exit_at_end=args.exit_at_end, bus=args.bus,
                      room=args.room)
    plan = plan_inputs(cfg, opts.input)  # fail fast on a bad input, before loading models
    engine = load_engine(cfg)
    return asyncio.run(run_session(cfg, opts, engine, plan))


def serve(args: argparse.Namespace) -> int:
    import asyncio

    from captioner.delivery.edge import EdgePlan, run_edge

    cfg = _config(args)
    return asyncio.run(run_edge(cfg, EdgePlan(bus_url=args.bus, host=args.host,
                                              port=args.port)))


def export(args: argparse.Namespace) -> int:
    from captioner.record.docexport import FORMATS, export_command

    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise CaptionerError(f"unknown format {bad[0]!r}", hint=f"choose from {', '.join(FORMATS)}")
    langs = tuple(x.strip() for x in args.lang.split(",") if x.strip())
    return export_command(Path(args.session), formats, langs, args.wall_clock)


def archive(args: argparse.Namespace) -> int:
    import asyncio
    import dataclasses

    from captioner.archive.archiver import check_name, run_archive
    from captioner.bus.connection import BusOptions

    cfg = _config(args)
    url = args.bus or cfg.bus.url
    if not url:
        raise CaptionerError("no bus to archive", hint="pass --bus nats://HOST:4222 or set "
                             "[bus] url in the config")
    options = dataclasses.replace(BusOptions.from_config(cfg.bus, url=url),
                                  name=f"captioner archive {check_name(args.name)}")
    return asyncio.run(run_archive(options, args.sessions or cfg.session.root,
                                   name=args.name, poll_s=args.poll_s))


def devices(args: argparse.Namespace) -> int:
    from captioner.inputs.devices import format_devices, list_devices

    try:
        found = list_devices()
    except OSError as exc:  # PortAudio missing or broken
        raise CaptionerError(f"cannot list audio devices: {exc}",
                             hint="install PortAudio: apt-get install libportaudio2") from None
    print(format_devices(found))
    return 0
