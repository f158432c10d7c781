"""What a touchpoints record holds: one event or a JSON array of them, each checked before scoring. Pure."""

from __future__ import annotations

from typing import Any

import orjson

REQUIRED_TEXT_FIELDS = ("event_id", "source", "type", "occurred_at", "constituent_id")


def decode_touchpoints(raw: bytes) -> list[Any]:
    """The events in one record (an object or an array of them); ValueError when it is not JSON."""
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from error
    return decoded if isinstance(decoded, list) else [decoded]


def touchpoint_problem(event: Any, key: bytes | None) -> str | None:
    """Why a decoded item cannot be scored (ingest validated it; other producers may not have)."""
    if not isinstance(event, dict):
        return "not a JSON object"
    missing = [name for name in REQUIRED_TEXT_FIELDS if not isinstance(event.get(name), str)]
    if missing:
        return f"missing or not text: {', '.join(missing)}"
    if key is not None and event["constituent_id"].encode() != key:
        return f"constituent_id {event['constituent_id']!r} differs from the record key {key!r}"
    return None
