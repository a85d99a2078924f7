"""The versioned JSON wire format shared by the websocket, ``run --print`` and journals.

See ``docs/protocol.md`` for the contract. Encoding is pure: events in, dicts out.
"""

from __future__ import annotations

import json
from typing import Any

from captioner.config import CaptionsConfig
from captioner.events import Caption, Speaker, Status

PROTOCOL_VERSION = 1


def layout_to_dict(cfg: CaptionsConfig) -> dict[str, Any]:
    """The caption line rules as ``hello.layout``: what the views break lines by."""
    return {
        "max_chars": {"en": cfg.max_chars_en, "ru": cfg.max_chars_ru},
        "max_lines": cfg.max_lines,
        "min_duration_s": cfg.min_duration_s,
        "max_cps": cfg.max_cps,
    }


def caption_to_dict(caption: Caption) -> dict[str, Any]:
    """A caption as its wire message.

    ``emitted_at`` is the wall-clock emission time in Unix seconds, so any receiver can
    measure latency against its own clock.
    """
    msg: dict[str, Any] = {
        "type": "caption",
        "final": caption.final,
        "id": caption.id,
        "lang": caption.lang,
        "text": caption.text,
        "start_s": round(caption.start_s, 3),
        "end_s": round(caption.end_s, 3),
        "source": caption.source,
        "input": caption.input_id,
        "emitted_at": round(caption.emitted_ns / 1e9, 6),
    }
    if caption.utterance_id is not None:
        msg["utterance"] = caption.utterance_id
    if caption.speaker is not None:
        msg["speaker"] = {"name": caption.speaker.name, "role": caption.speaker.role}
    if caption.final:
        msg["seq"] = caption.seq
    else:
        msg["revision"] = caption.revision
    return msg


def status_to_dict(status: Status) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "type": "status",
        "state": status.state,
        "emitted_at": round(status.emitted_ns / 1e9, 6),
    }
    if status.input_id is not None:
        msg["input"] = status.input_id
    msg.update(status.detail)
    return msg


def speaker_from_dict(value: Any) -> Speaker | None:
    """The ``speaker`` of a caption message; None when absent or not a speaker."""
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) \
            or not value["name"]:
        return None
    role = value.get("role")
    return Speaker(value["name"], role if isinstance(role, str) else "")


def caption_from_dict(msg: dict[str, Any]) -> Caption:
    """Reads a caption message back (journals, resume). Raises KeyError/TypeError/ValueError."""
    return Caption(
        id=str(msg["id"]),
        final=bool(msg["final"]),
        lang=str(msg["lang"]),
        text=str(msg["text"]),
        start_s=float(msg["start_s"]),
        end_s=float(msg["end_s"]),
        emitted_ns=int(float(msg.get("emitted_at", 0)) * 1e9),
        source=msg.get("source", "floor"),
        input_id=str(msg.get("input", "floor")),
        seq=int(msg["seq"]) if msg.get("seq") is not None else None,
        revision=int(msg.get("revision", 0)),
        utterance_id=str(msg["utterance"]) if msg.get("utterance") is not None else None,
        speaker=speaker_from_dict(msg.get("speaker")),
    )


def encode(event: Caption | Status) -> str:
    """One compact JSON line (no newline) for any event."""
    body = caption_to_dict(event) if isinstance(event, Caption) else status_to_dict(event)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))
