"""Operator control, pure: tokens, the command language, its effect, and the screen gate.

Nothing here does I/O or touches the event loop; :mod:`captioner.delivery.operator` is the thin
adapter that reads commands off the ``/control`` websocket, calls :func:`apply`, and
publishes the statuses it returns. See ``docs/operator.md`` for the wire contract.

Commands are JSON objects with a ``cmd`` (and optionally an ``id`` that the answer
echoes)::

    {"cmd": "pause", "message": "Coffee break / Перерыв"}
    {"cmd": "resume"}
    {"cmd": "clear"}
    {"cmd": "language", "lang": "auto" | "ru" | "en"}
    {"cmd": "input", "input": "booth", "enabled": false}
    {"cmd": "message", "text": "Please take your seats", "duration_s": 15}
    {"cmd": "new_session", "title": "Afternoon panel"}
    {"cmd": "speaker", "item": 1, "speaker": 0}       a speaker of the programme
    {"cmd": "speaker", "other": true}                  "other / audience question"
    {"cmd": "speaker", "name": "Dr. A. Seitkali", "role": "Moderator", "lang": "ru"}
    {"cmd": "speaker", "none": true}                   nobody: no name on the screens
    {"cmd": "item", "item": 2}                         the programme item on now
    {"cmd": "item", "auto": true}                      the item follows the schedule
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from captioner.bus.messages import Command
from captioner.errors import CaptionerError, CommandError
from captioner.languages import AUTO, LANGUAGES
from captioner.programme import (
    MAX_NAME_CHARS,
    MAX_ROLE_CHARS,
    OTHER_SPEAKER,
    Programme,
    ProgrammeSpeaker,
    one_line,
    speaker_to_data,
)

#: Environment variable that sets the operator token instead of a generated one.
TOKEN_ENV = "CAPTIONER_OPERATOR_TOKEN"
#: Shortest token accepted from config or the environment.
TOKEN_MIN_CHARS = 16
#: Longest one-off message or holding message, in characters.
MAX_MESSAGE_CHARS = 280
#: Longest session title, in characters.
MAX_TITLE_CHARS = 80
#: How long a one-off message stays up when the command does not say.
DEFAULT_MESSAGE_S = 15.0
MAX_MESSAGE_S = 600.0

COMMANDS = frozenset({"pause", "resume", "clear", "language", "input", "message",
                      "new_session", "speaker", "item"})
#: The ways a ``speaker`` command names who speaks; exactly one is given.
SPEAKER_FORMS = ("speaker", "other", "name", "none")
NO_ITEMS = "the programme has no items"

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TOKEN_CHARS = re.compile(r"^[\x21-\x7e]+$")


# -- tokens and origins -------------------------------------------------------------------


def generate_token() -> str:
    """A fresh operator token: 32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def resolve_token(configured: str | None,
                  environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Decides the operator token: the configured one, the environment's, or a new one.

    Args:
        configured: A token from the config (or the caller), or None.
        environ: Where to look for :data:`TOKEN_ENV` (``os.environ`` in production).

    Returns:
        ``(token, origin)`` where origin is ``"config"``, ``"env"`` or ``"generated"``.

    Raises:
        CaptionerError: A configured token is too short or has spaces or non-ASCII
            characters.
    """
    for origin, value in (("config", configured), ("env", (environ or {}).get(TOKEN_ENV))):
        if value is None or value == "":
            continue
        where = "the operator token" if origin == "config" else TOKEN_ENV
        if len(value) < TOKEN_MIN_CHARS or not _TOKEN_CHARS.match(value):
            raise CaptionerError(
                f"{where} must be at least {TOKEN_MIN_CHARS} printable ASCII characters "
                "without spaces",
                hint="leave it unset to get a random token printed at start")
        return value, origin
    return generate_token(), "generated"


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def token_matches(expected: str, given: object) -> bool:
    """Compares a presented token with the real one in constant time.

    Both sides are hashed first, so not even the length of the real token leaks
    through timing; anything that is not a string is refused.
    """
    if not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(_digest(expected), _digest(given))


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def origin_allowed(origin: str | None, host: str | None) -> bool:
    """Whether a websocket handshake's ``Origin`` may open the control channel.

    Browsers always send ``Origin`` on a websocket handshake, so a page can only
    reach the control channel from the origin that served the console: the Origin's
    host and port must be the ``Host`` the request was sent to. A request without
    ``Origin`` comes from a non-browser client (a script, ``websocat``) and is let
    through to the token check; ``Origin: null`` (sandboxed frames, files) is refused.

    Args:
        origin: The ``Origin`` header, or None when absent.
        host: The ``Host`` header.
    """
    if origin is None:
        return True
    if not host:
        return False
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    default = {"http": "80", "https": "443"}[parts.scheme]

    def normal(netloc: str) -> str:
        netloc = netloc.lower()
        if netloc.endswith(":" + default):
            netloc = netloc[: -len(default) - 1]
        return netloc

    return normal(parts.netloc) == normal(host.strip())


# -- commands ------------------------------------------------------------------------------


def _text(value: Any, name: str, limit: int, *, required: bool) -> str:
    if value is None:
        if required:
            raise CommandError(f"{name} is required")
        return ""
    if not isinstance(value, str):
        raise CommandError(f"{name} must be text")
    text = _CONTROL_CHARS.sub("", value).strip()
    if len(text) > limit:
        raise CommandError(f"{name} is longer than {limit} characters")
    if required and not text:
        raise CommandError(f"{name} is empty")
    return text


def _index(value: Any, name: str, count: int, none: str) -> int:
    """``value`` as an index into ``count`` things; ``none`` says there are none."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < count:
        raise CommandError(f"{name} must be a number from 0 to {count - 1}" if count
                           else none)
    return value


def _one_of(value: Any, allowed: Iterable[str]) -> bool:
    """Whether ``value`` is one of ``allowed``: any JSON value may come, and a list or
    an object is not hashable, so it is no set member."""
    return isinstance(value, str) and value in set(allowed)


def _speaker_args(msg: dict, programme: Programme, inputs: Iterable[str],
                  languages: Iterable[str]) -> dict[str, Any]:
    """The arguments of a ``speaker`` command: ``speaker`` (as data, or None for
    nobody) and the programme ``item`` it is from (None when not from the programme)."""
    forms = [form for form in SPEAKER_FORMS
             if msg.get(form) is not None and msg.get(form) is not False]
    if len(forms) != 1:
        raise CommandError("say who speaks with one of: item and speaker (the programme), "
                           "other, name, none")
    if forms == ["speaker"]:
        item = _index(msg.get("item"), "item", len(programme.items), NO_ITEMS)
        speakers = programme.items[item].speakers
        index = _index(msg.get("speaker"), "speaker", len(speakers),
                       f"item {item} ({programme.items[item].title}) has no speakers")
        return {"speaker": speaker_to_data(speakers[index]), "item": item}
    if "item" in msg:
        raise CommandError("item goes with speaker (a speaker of the programme)")
    if forms == ["none"] or forms == ["other"]:
        if msg[forms[0]] is not True:
            raise CommandError(f"{forms[0]} must be true")
        return {"speaker": None if forms == ["none"] else speaker_to_data(OTHER_SPEAKER),
                "item": None}
    languages = tuple(languages)
    lang, input_id = msg.get("lang"), msg.get("input")
    if lang in (None, ""):
        lang = ""
    elif not _one_of(lang, languages):
        raise CommandError(f"lang must be one of {', '.join(languages)}, or left out")
    if input_id in (None, ""):
        input_id = ""
    elif not _one_of(input_id, inputs):
        raise CommandError(f"unknown input {str(input_id)[:32]!r}")
    speaker = ProgrammeSpeaker(  # on one line, as the programme's own names
        one_line(_text(msg.get("name"), "name", MAX_NAME_CHARS, required=True)),
        one_line(_text(msg.get("role"), "role", MAX_ROLE_CHARS, required=False)),
        lang, input_id)
    return {"speaker": speaker_to_data(speaker), "item": None}


def _item_args(msg: dict, programme: Programme) -> dict[str, Any]:
    if ("item" in msg) == ("auto" in msg):
        raise CommandError("give item (a number) or auto (true or false)")
    if "auto" in msg:
        if not isinstance(msg["auto"], bool):
            raise CommandError("auto must be true or false")
        return {"auto": msg["auto"]}
    return {"item": _index(msg["item"], "item", len(programme.items), NO_ITEMS)}


def parse_command(msg: Any, *, inputs: Iterable[str] = (),
                  languages: Iterable[str] = LANGUAGES,
                  programme: Programme = Programme()) -> Command:
    """Validates one decoded JSON message from an operator.

    Args:
        msg: The decoded message.
        inputs: The input ids that exist (for ``input``).
        languages: The recognised languages (for ``language``; ``auto`` is always allowed).
        programme: The room's programme (for ``speaker`` and ``item``).

    Returns:
        The command with clean arguments.

    Raises:
        CommandError: The message is not a command this server understands, or an
            argument is missing, of the wrong type or out of range.
    """
    if not isinstance(msg, dict):
        raise CommandError("a command must be a JSON object")
    cid = msg.get("id")
    if cid is not None and not (isinstance(cid, (str, int)) and not isinstance(cid, bool)
                                and len(str(cid)) <= 64):
        raise CommandError("id must be a short string or number")
    name = msg.get("cmd")
    if not isinstance(name, str) or name not in COMMANDS:
        raise CommandError(f"unknown command {str(name)[:32]!r}")
    args: dict[str, Any] = {}
    if name == "pause":
        args["message"] = _text(msg.get("message"), "message", MAX_MESSAGE_CHARS,
                                required=False)
        args["default"] = "message" not in msg
    elif name == "language":
        lang = msg.get("lang")
        allowed = (AUTO, *languages)
        if lang not in allowed:
            raise CommandError(f"lang must be one of {', '.join(allowed)}")
        args["lang"] = lang
    elif name == "input":
        input_id, enabled = msg.get("input"), msg.get("enabled")
        if not _one_of(input_id, inputs):
            raise CommandError(f"unknown input {str(input_id)[:32]!r}")
        if not isinstance(enabled, bool):
            raise CommandError("enabled must be true or false")
        args.update(input=input_id, enabled=enabled)
    elif name == "message":
        args["text"] = _text(msg.get("text"), "text", MAX_MESSAGE_CHARS, required=True)
        duration = msg.get("duration_s", DEFAULT_MESSAGE_S)
        if isinstance(duration, bool) or not isinstance(duration, (int, float)) \
                or not 1 <= duration <= MAX_MESSAGE_S:
            raise CommandError(f"duration_s must be a number from 1 to {MAX_MESSAGE_S:g}")
        args["duration_s"] = float(duration)
    elif name == "new_session":
        args["title"] = _text(msg.get("title"), "title", MAX_TITLE_CHARS, required=False)
    elif name == "speaker":
        args.update(_speaker_args(msg, programme, inputs, languages))
    elif name == "item":
        args.update(_item_args(msg, programme))
    return Command(name, args, cid)


def cycle_language(current: str | None, languages: Sequence[str] = LANGUAGES) -> str:
    """The next choice after ``current`` in the order auto, then each language."""
    order = [AUTO, *languages]
    here = AUTO if current is None else current
    return order[(order.index(here) + 1) % len(order)] if here in order else AUTO
