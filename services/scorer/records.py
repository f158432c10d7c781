"""What a touchpoints record holds — one event or a JSON array of them — and which of its events can be
scored (the rest become dead letters with their reason). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from services.common.kafka import partition_for
from services.domain.dead_letters import ReasonCode
from services.domain.events import occurred_at_epoch

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
    if event.get("attributes") is not None and not isinstance(event["attributes"], dict):
        return "attributes: not a JSON object"
    if key is not None and event["constituent_id"].encode() != key:
        return f"constituent_id {event['constituent_id']!r} differs from the record key {key!r}"
    return None


@dataclass(frozen=True, slots=True)
class Incoming:
    partition: int
    key: bytes | None
    value: bytes
    timestamp: float = 0.0  # when the record was written (its Kafka timestamp, seconds)


def parts_of(records: list[Incoming], max_bytes: int) -> list[list[Incoming]]:
    """``records`` in order, cut into parts of at most ``max_bytes`` of values each (a larger record is a
    part of its own); always one part at least, maybe empty: a batch of ticks alone is still processed."""
    parts: list[list[Incoming]] = [[]]
    size = 0
    for record in records:
        if parts[-1] and size + len(record.value) > max_bytes:
            parts.append([])
            size = 0
        parts[-1].append(record)
        size += len(record.value)
    return parts


@dataclass(slots=True)
class DeadLetter:
    raw: bytes
    reason: str
    code: ReasonCode


def valid_events(
    record: Incoming, dead_letters: list[DeadLetter], now: float, partitions: int | None, max_future_s: float
) -> list[tuple[dict[str, Any], float]]:
    """The valid events of a record with their event times; the rest become ``dead_letters``.
    ``partitions``: how many the touchpoints topic has (an event in the wrong one is refused);
    ``max_future_s``: how far ahead of ``now`` an event may be dated."""
    try:
        events = decode_touchpoints(record.value)
    except ValueError as error:
        dead_letters.append(DeadLetter(raw=record.value, reason=str(error), code="unparseable"))
        return []
    valid = []
    for event in events:
        code: ReasonCode = "not_touchpoint"
        problem = touchpoint_problem(event, record.key)
        if problem is None and record.key is None and partitions:
            belongs = partition_for(event["constituent_id"].encode(), partitions)
            if belongs != record.partition:
                constituent = event["constituent_id"]
                problem = (
                    f"constituent {constituent!r} belongs in partition {belongs}, not {record.partition}"
                )
        if problem is None:
            try:
                event_time = occurred_at_epoch(event)
            except ValueError as error:
                problem = f"occurred_at: {error}"
            else:
                ahead = event_time - now
                if ahead > max_future_s:
                    code = "future"
                    problem = (
                        f"occurred_at is {ahead:.0f} s ahead of the scorer's clock "
                        f"(at most {max_future_s:g} s allowed)"
                    )
        if problem is None:
            valid.append((event, event_time))
        else:
            dead_letters.append(DeadLetter(raw=orjson.dumps(event), reason=problem, code=code))
    return valid
