"""What a bus over a network carries: events and figures as JSON bytes, and back.

Unlike the viewers' wire format (:mod:`captioner.delivery.wire`), which rounds times and
leaves out the timed words, this codec is lossless: every field of a
:class:`~captioner.events.Caption` or :class:`~captioner.events.Status` comes back equal
(floats are written with Python's shortest round-trip form, integers as integers). A
status ``detail`` comes back equal when it is JSON data (lists, not tuples). Encoding and
decoding are pure: no I/O, no event loop.

Every message carries ``"v": 1``; a decoder meeting a later version raises
:class:`CodecError` rather than guessing. Within version 1 fields are only ever added
(the caption's ``speaker``, the figures' programme fields and ``title``): a message
from an older room decodes with the field's default, and a decoder ignores the fields
of a newer room it does not know, so the rooms, edges and archive of a venue need not be
upgraded at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from captioner.bus.messages import (
    InputFigures,
    Placement,
    Published,
    RecordFigures,
    RoomFigures,
)
from captioner.events import Caption, Speaker, Status, Word
from captioner.programme import (
    programme_from_data,
    programme_to_data,
    speaker_from_data,
    speaker_to_data,
)

#: The version of this encoding, in every message as ``v``.
CODEC_VERSION = 1


class CodecError(ValueError):
    """Bytes that are not a message of this codec (damaged, foreign or from a later
    version); the message says which."""


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _loads(data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CodecError(f"not a JSON message: {exc}") from None
    if not isinstance(body, dict):
        raise CodecError("not a JSON object")
    version = body.get("v")
    if version != CODEC_VERSION:
        raise CodecError(f"codec version {version!r} (this captioner reads {CODEC_VERSION})")
    return body


# -- events ---------------------------------------------------------------------------------


def caption_to_body(caption: Caption) -> dict[str, Any]:
    """Every field of a caption as JSON data (the timed words as 4-item lists)."""
    return {
        "id": caption.id,
        "final": caption.final,
        "lang": caption.lang,
        "text": caption.text,
        "start_s": caption.start_s,
        "end_s": caption.end_s,
        "emitted_ns": caption.emitted_ns,
        "source": caption.source,
        "input_id": caption.input_id,
        "seq": caption.seq,
        "revision": caption.revision,
        "words": [[w.text, w.start_s, w.end_s, w.probability] for w in caption.words],
        "utterance_id": caption.utterance_id,
        "speaker": None if caption.speaker is None else {
            "name": caption.speaker.name, "role": caption.speaker.role},
    }


def caption_from_body(body: Mapping[str, Any]) -> Caption:
    """The inverse of :func:`caption_to_body`.

    Raises:
        KeyError, TypeError, ValueError: the body is not a caption.
    """
    seq = body["seq"]
    utterance = body["utterance_id"]
    speaker = body.get("speaker")  # absent from a room older than the speaker
    return Caption(
        id=str(body["id"]),
        final=_bool(body["final"]),
        lang=str(body["lang"]),
        text=str(body["text"]),
        start_s=float(body["start_s"]),
        end_s=float(body["end_s"]),
        emitted_ns=_int(body["emitted_ns"]),
        source=str(body["source"]),  # type: ignore[arg-type]
        input_id=str(body["input_id"]),
        seq=None if seq is None else _int(seq),
        revision=_int(body["revision"]),
        words=tuple(Word(str(t), float(s), float(e), float(p)) for t, s, e, p in body["words"]),
        utterance_id=None if utterance is None else str(utterance),
        speaker=None if speaker is None else Speaker(_str(speaker["name"]),
                                                     _str(speaker["role"])),
    )


def status_to_body(status: Status) -> dict[str, Any]:
    return {"state": status.state, "emitted_ns": status.emitted_ns,
            "input_id": status.input_id, "detail": status.detail}


def status_from_body(body: Mapping[str, Any]) -> Status:
    """The inverse of :func:`status_to_body`.

    Raises:
        KeyError, TypeError, ValueError: the body is not a status.
    """
    detail = body["detail"]
    if not isinstance(detail, dict):
        raise TypeError("detail is not an object")
    input_id = body["input_id"]
    return Status(state=str(body["state"]), emitted_ns=_int(body["emitted_ns"]),
                  input_id=None if input_id is None else str(input_id), detail=detail)


def encode_published(published: Published) -> bytes:
    """One event as a bus message (UTF-8 JSON, no newline)."""
    event = published.event
    if isinstance(event, Caption):
        return _dumps({"v": CODEC_VERSION, "room": published.room, "type": "caption",
                       "caption": caption_to_body(event)})
    return _dumps({"v": CODEC_VERSION, "room": published.room, "type": "status",
                   "status": status_to_body(event)})


def decode_published(data: bytes) -> Published:
    """The inverse of :func:`encode_published`.

    Raises:
        CodecError: the bytes are not an event message of this codec.
    """
    body = _loads(data)
    kind = body.get("type")
    try:
        room = str(body["room"])
        if kind == "caption":
            return Published(room, caption_from_body(body["caption"]))
        if kind == "status":
            return Published(room, status_from_body(body["status"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"invalid {kind} message: {exc!r}") from None
    raise CodecError(f"not an event message (type {kind!r})")


# -- figures --------------------------------------------------------------------------------


def encode_figures(room: str, figures: RoomFigures) -> bytes:
    """A room's figures snapshot as a bus message."""
    body = {
        "at_ns": figures.at_ns,
        "inputs": [{"id": i.id, "source": i.source, "enabled": i.enabled, "passes": i.passes,
                    "dropped_chunks": i.dropped_chunks, "backlog_chunks": i.backlog_chunks,
                    "backlog_s": i.backlog_s,
                    "asr_seconds": i.asr_seconds} for i in figures.inputs],
        "languages": list(figures.languages),
        "placement": {"device": figures.placement.device,
                      "compute_type": figures.placement.compute_type,
                      "threads": figures.placement.threads},
        "forced_language": figures.forced_language,
        "paused": figures.paused,
        "held": figures.held,
        "committed": figures.committed,
        "translation_engines": dict(figures.translation_engines),
        "translation_queue": figures.translation_queue,
        "translation_dropped": figures.translation_dropped,
        "recording": None if figures.recording is None else {
            "name": figures.recording.name, "path": figures.recording.path,
            "healthy": figures.recording.healthy, "error": figures.recording.error},
        "input_pass": figures.input_pass,
        "speed": figures.speed,
        "time_offset_s": figures.time_offset_s,
        "new_session": figures.new_session,
        "programme": programme_to_data(figures.programme),
        "item": figures.item,
        "speaker": None if figures.speaker is None else speaker_to_data(figures.speaker),
        "auto_advance": figures.auto_advance,
        "title": figures.title,
    }
    return _dumps({"v": CODEC_VERSION, "room": room, "type": "figures", "figures": body})


def decode_figures(data: bytes) -> tuple[str, RoomFigures]:
    """The inverse of :func:`encode_figures`: the room and its snapshot.

    Raises:
        CodecError: the bytes are not a figures message of this codec.
    """
    body = _loads(data)
    if body.get("type") != "figures":
        raise CodecError(f"not a figures message (type {body.get('type')!r})")
    try:
        f = body["figures"]
        placement = f["placement"]
        recording = f["recording"]
        pass_ = f["input_pass"]
        item = f.get("item")
        speaker = f.get("speaker")
        figures = RoomFigures(
            at_ns=_int(f["at_ns"]),
            inputs=tuple(InputFigures(
                id=str(i["id"]), source=str(i["source"]), enabled=_bool(i["enabled"]),
                passes=_int(i["passes"]), dropped_chunks=_int(i["dropped_chunks"]),
                backlog_chunks=_int(i.get("backlog_chunks", 0)),
                backlog_s=float(i["backlog_s"]), asr_seconds=float(i["asr_seconds"]))
                for i in f["inputs"]),
            languages=tuple(str(lang) for lang in f["languages"]),
            placement=Placement(device=placement["device"],
                                compute_type=placement["compute_type"],
                                threads=placement["threads"]),
            forced_language=f["forced_language"],
            paused=_bool(f["paused"]),
            held=_int(f["held"]),
            committed=_int(f["committed"]),
            translation_engines={str(k): str(v) for k, v in f["translation_engines"].items()},
            translation_queue=_int(f["translation_queue"]),
            translation_dropped=_int(f["translation_dropped"]),
            recording=None if recording is None else RecordFigures(
                name=str(recording["name"]), path=str(recording["path"]),
                healthy=_bool(recording["healthy"]), error=recording["error"]),
            input_pass=None if pass_ is None else _int(pass_),
            speed=float(f["speed"]),
            time_offset_s=float(f["time_offset_s"]),
            new_session=_bool(f["new_session"]),
            programme=programme_from_data(f.get("programme", ())),
            item=None if item is None else _int(item),
            speaker=None if speaker is None else speaker_from_data(speaker),
            auto_advance=_bool(f.get("auto_advance", False)),
            title=_str(f.get("title", "")),  # absent from a room older than the title
        )
        return str(body["room"]), figures
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CodecError(f"invalid figures message: {exc!r}") from None


def _int(value: Any) -> int:
    # JSON has one number type: refuse 1.5 or true where an integer belongs.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {value!r}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value
