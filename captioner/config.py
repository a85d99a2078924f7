"""One frozen configuration tree, loaded from TOML and validated once.

Every section is a frozen dataclass; the loader walks the TOML tree against the
dataclass fields, so an unknown key or a value of the wrong type is reported with
the file and the dotted key (``configs/venue.toml: asr.beam_sise: unknown key``).
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from captioner.errors import ConfigError
from captioner.languages import LANGUAGES
from captioner.programme import Programme, check_programme

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "default.toml"

SUPPORTED_LANGUAGES = LANGUAGES


@dataclass(frozen=True)
class ModelsConfig:
    """Where the model store lives (empty: ``$CAPTIONER_MODELS`` or ``models/``)."""

    dir: str = ""


@dataclass(frozen=True)
class AsrConfig:
    """Speech recognition settings.

    Attributes:
        model: Model name from the store, or a path to a CTranslate2 Whisper folder.
        device: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda``.
        compute_type: ``auto`` (int8 on CPU, float16 on CUDA) or a CTranslate2 type.
        threads: CPU threads for the model; 0 means one per core.
        beam_size: Decoding beam of the final pass of each live utterance, the pass
            whose words are committed (``captioner run``). 1 is greedy, the fastest;
            a wider beam makes every commit wait longer. Provisional passes are always
            greedy. ``captioner transcribe`` has its own ``--beam-size``.
        languages: Languages that language identification may choose from.
        language: ``auto`` or one of ``languages`` to force it.
    """

    model: str = "whisper-base"
    device: str = "auto"
    compute_type: str = "auto"
    threads: int = 0
    beam_size: int = 1
    languages: tuple[str, ...] = SUPPORTED_LANGUAGES
    language: str = "auto"


@dataclass(frozen=True)
class TranscribeConfig:
    """Offline transcription defaults."""

    formats: tuple[str, ...] = ("srt", "vtt", "txt", "json")
    out_dir: str = ""


@dataclass(frozen=True)
class CaptionsConfig:
    """Caption layout, following common subtitle conventions."""

    max_lines: int = 2
    max_chars_en: int = 42
    max_chars_ru: int = 39
    max_cps: float = 17.0
    min_duration_s: float = 1.0
    max_duration_s: float = 7.0


@dataclass(frozen=True)
class InputConfig:
    """One audio input: the floor microphone or an interpreters' booth.

    Attributes:
        id: Name used in captions and logs (``floor``, ``booth``).
        source: ``floor`` (speakers) or ``interpretation`` (the booth).
        device: ``default``, a device name or index (``captioner devices``), or a file.
        channel: 1-based channel of a multi-channel interface or file; 0 mixes all.
    """

    id: str = "floor"
    source: str = "floor"
    device: str = "default"
    channel: int = 0


@dataclass(frozen=True)
class ServerConfig:
    """The caption server (views, websocket)."""

    host: str = "0.0.0.0"
    port: int = 8765
    max_clients: int = 1000
    client_queue: int = 256
    history_per_track: int = 500
    operator_token: str = ""
    holding_message: str = ""


@dataclass(frozen=True)
class TranslationConfig:
    """Machine translation of committed floor captions into the other language.

    Attributes:
        engine: ``auto`` (Argos package, else Whisper speech translation into English),
            ``argos``, ``whisper`` or ``none``.
        beam_size: Argos decoding beam.
        threads: CPU threads for the translation model.
        booth_hold_s: After the booth last spoke, how long its transcript is preferred
            over machine translation.
    """

    engine: str = "auto"
    beam_size: int = 2
    threads: int = 1
    booth_hold_s: float = 15.0


@dataclass(frozen=True)
class GlossaryTerm:
    """A name or term with its forms in each language and known misrecognitions."""

    en: str = ""
    ru: str = ""
    misheard: tuple[str, ...] = ()


@dataclass(frozen=True)
class GlossaryConfig:
    """Event glossary: biases recognition, survives translation, fixes misrecognitions."""

    hotwords: bool = True
    terms: tuple[GlossaryTerm, ...] = ()


@dataclass(frozen=True)
class SessionConfig:
    """Where session records go."""

    root: str = "sessions"
    record_audio: bool = True


@dataclass(frozen=True)
class BusConfig:
    """The caption bus over NATS JetStream between rooms and serving edges
    (docs/deploy.md). An empty ``url`` keeps the room on its in-process bus.

    Attributes:
        url: ``nats://HOST:4222`` or ``tls://HOST:4222``; several separated by commas
            for a cluster.
        room: This room's id on the bus (lowercase letters, digits, ``-``, ``_``).
        user: User name (with ``password``).
        password: Password; never logged or shown.
        token: An authentication token instead of a user and password; never shown.
        creds: A NATS ``.creds`` file (user JWT and nkey seed).
        nkey: A file holding an nkey seed.
        ca_file: CA certificate(s) of the server's TLS certificate; empty: the system's.
        max_age_days: How long the bus keeps a room's events (0: until ``max_bytes``).
        max_bytes: The size limit of a room's stream, oldest first out (0: no limit).
        replicas: Copies of each room's stream in a cluster (1 on a single server).
    """

    url: str = ""
    room: str = ""
    user: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    creds: str = ""
    nkey: str = ""
    ca_file: str = ""
    max_age_days: float = 30.0
    max_bytes: int = 1024 ** 3
    replicas: int = 1


@dataclass(frozen=True)
class Config:
    """The whole configuration tree."""

    models: ModelsConfig = field(default_factory=ModelsConfig)
    asr: AsrConfig = field(default_factory=AsrConfig)
    transcribe: TranscribeConfig = field(default_factory=TranscribeConfig)
    captions: CaptionsConfig = field(default_factory=CaptionsConfig)
    inputs: tuple[InputConfig, ...] = (InputConfig(),)
    server: ServerConfig = field(default_factory=ServerConfig)
    translation: TranslationConfig = field(default_factory=TranslationConfig)
    glossary: GlossaryConfig = field(default_factory=GlossaryConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    bus: BusConfig = field(default_factory=BusConfig)
    programme: Programme = field(default_factory=Programme)


#: Keys whose values an error message never repeats.
SECRET_KEYS = frozenset({"bus.password", "bus.token"})


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is tuple:
        (inner, _) = typing.get_args(tp)
        return f"list of {_type_name(inner)}"
    if isinstance(tp, type):
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
            tp.__name__, tp.__name__
        )
    return str(tp)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Checks ``value`` against the annotation ``tp`` and returns it in that type."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
        return _build(tp, value, where)
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected {_article(tp)}, got {value!r}")
        return tuple(_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _coerce(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} is not a valid value")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is type(None) and value is None:
        return None
    if isinstance(tp, type) and isinstance(value, tp) and not (
        tp is int and isinstance(value, bool)
    ):
        return value
    raise ConfigError(f"{where}: expected {_article(tp)}, got {value!r}")


def _article(tp: Any) -> str:
    name = _type_name(tp)
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _build(cls: type, table: dict, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in table.items():
        dotted = f"{where}.{key}" if where else key
        if key not in names:
            known = ", ".join(sorted(names))
            raise ConfigError(f"{dotted}: unknown key (known keys here: {known})")
        try:
            kwargs[key] = _coerce(value, hints[key], dotted)
        except ConfigError:
            if dotted in SECRET_KEYS:
                raise ConfigError(f"{dotted}: expected {_article(hints[key])}") from None
            raise
    return cls(**kwargs)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def parse_override(text: str) -> dict:
    """Turns ``asr.beam_size=5`` into ``{"asr": {"beam_size": 5}}`` (values in TOML syntax).

    A value that is not valid TOML is taken as a plain string, so ``asr.model=small``
    works without quotes.
    """
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected KEY=VALUE, for example asr.beam_size=5")
    key, raw = (part.strip() for part in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    tree: dict = {}
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return tree


def validate(cfg: Config) -> Config:
    """Checks the cross-field rules that types alone do not express."""
    for lang in cfg.asr.languages:
        if lang not in SUPPORTED_LANGUAGES:
            raise ConfigError(
                f"asr.languages: {lang!r} is not supported (choose from {SUPPORTED_LANGUAGES})"
            )
    if cfg.asr.language != "auto" and cfg.asr.language not in cfg.asr.languages:
        raise ConfigError(f"asr.language: {cfg.asr.language!r} is not in asr.languages")
    if cfg.asr.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"asr.device: {cfg.asr.device!r} (choose auto, cpu or cuda)")
    if cfg.asr.beam_size < 1:
        raise ConfigError("asr.beam_size: must be at least 1")
    if cfg.asr.threads < 0:
        raise ConfigError("asr.threads: must be 0 (auto) or more")
    ids = [i.id for i in cfg.inputs]
    if not ids:
        raise ConfigError("inputs: at least one input is needed")
    if len(set(ids)) != len(ids):
        raise ConfigError(f"inputs: input ids must be unique, got {ids}")
    for n, inp in enumerate(cfg.inputs):
        if inp.source not in ("floor", "interpretation"):
            raise ConfigError(f"inputs[{n}].source: {inp.source!r} (choose floor or "
                              "interpretation)")
        if inp.channel < 0:
            raise ConfigError(f"inputs[{n}].channel: 1-based channel, or 0 to mix all")
    if cfg.translation.engine not in ("auto", "argos", "whisper", "none"):
        raise ConfigError(f"translation.engine: {cfg.translation.engine!r} "
                          "(choose auto, argos, whisper or none)")
    token = cfg.server.operator_token
    if token and (len(token) < 16 or not token.isascii() or not token.isprintable()):
        raise ConfigError("server.operator_token: use at least 16 printable ASCII characters "
                          "(or leave it empty to generate one at start)")
    if not 1 <= cfg.server.port <= 65535 and cfg.server.port != 0:
        raise ConfigError(f"server.port: {cfg.server.port} is not a port number")
    for n, term in enumerate(cfg.glossary.terms):
        if not (term.en or term.ru):
            raise ConfigError(f"glossary.terms[{n}]: a term needs an en or ru form")
    _validate_bus(cfg.bus)
    floor = [i.id for i in cfg.inputs if i.source == "floor"]
    return dataclasses.replace(cfg, programme=check_programme(cfg.programme, floor))


def _validate_bus(bus: BusConfig) -> None:
    from captioner.bus.names import check_room, check_urls, redact_url

    if bus.url:
        try:
            check_urls(bus.url)
        except ValueError as exc:
            raise ConfigError(f"bus.url: {redact_url(bus.url)}: {exc}",
                              "write it as nats://HOST:4222 or tls://HOST:4222") from None
    if bus.room:
        try:
            check_room(bus.room)
        except ValueError as exc:
            raise ConfigError(f"bus.room: {exc}") from None
    if bus.password and not bus.user:
        raise ConfigError("bus.password: a password needs bus.user")
    if bus.token and (bus.user or bus.creds or bus.nkey):
        raise ConfigError("bus.token: a token is used alone, without user, creds or nkey")
    if bus.creds and bus.nkey:
        raise ConfigError("bus.nkey: use creds or nkey, not both")
    if bus.max_age_days < 0:
        raise ConfigError("bus.max_age_days: must be 0 (no age limit) or more")
    if bus.max_bytes < 0:
        raise ConfigError("bus.max_bytes: must be 0 (no size limit) or more")
    if not 1 <= bus.replicas <= 5:
        raise ConfigError("bus.replicas: from 1 to 5 (a JetStream limit)")


def load_config(
    path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> Config:
    """Loads the default config, then ``path`` over it, then ``KEY=VALUE`` overrides.

    Raises:
        ConfigError: naming the file and the dotted key at fault.
    """
    tree = _read_toml(DEFAULT_CONFIG) if DEFAULT_CONFIG.exists() else {}
    sources: list[tuple[Path | str, dict]] = [(DEFAULT_CONFIG, tree)]
    if path is not None:
        user = _read_toml(Path(path))
        sources.append((Path(path), user))
        tree = _merge(tree, user)
    for text in overrides:
        override = parse_override(text)
        sources.append(("--set", override))
        tree = _merge(tree, override)
    try:
        cfg = _build(Config, tree, "")
        return validate(cfg)
    except ConfigError as exc:
        # Name the file the offending key came from (the last one that sets it).
        key = exc.message.split(":", 1)[0].split("[")[0]
        origin: Path | str = "config"
        for src, table in sources:
            if _has_key(table, key):
                origin = str(src)
        raise ConfigError(f"{origin}: {exc.message}", exc.hint) from None


def _has_key(table: dict, dotted: str) -> bool:
    node: Any = table
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
