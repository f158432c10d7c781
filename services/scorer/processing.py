"""One batch of raw touchpoint records in, changed constituent states and alerts out. Pure: no I/O.

The Faust agent hands over a whole batch so that each constituent's state is read and written once per
batch, however many of its events the batch holds (the per-write cost is Faust's bottleneck).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.domain.alerts import Alert, failed_transaction_alert
from services.domain.events import occurred_at_epoch
from services.domain.scoring import ConstituentState, Outcome, ScoringModel, apply_event, scores_at

REQUIRED_TEXT_FIELDS = ("event_id", "source", "type", "occurred_at", "constituent_id")


@dataclass(slots=True)
class DeadLetter:
    raw: bytes
    reason: str


@dataclass(slots=True)
class BatchResult:
    changed: dict[str, ConstituentState] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    outcomes: Counter[tuple[str, str, Outcome]] = field(default_factory=Counter)
    event_times: list[float] = field(default_factory=list)


def decode_touchpoint(raw: bytes) -> dict[str, Any]:
    """Decode a record ingest wrote; raise ValueError for anything that is not a touchpoint."""
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from error
    if not isinstance(event, dict):
        raise ValueError("not a JSON object")
    missing = [name for name in REQUIRED_TEXT_FIELDS if not isinstance(event.get(name), str)]
    if missing:
        raise ValueError(f"missing or not text: {', '.join(missing)}")
    return event


def process_batch(
    records: Iterable[bytes],
    load_state: Callable[[str], ConstituentState | None],
    model: ScoringModel,
) -> BatchResult:
    """Fold a batch of records into the states ``load_state`` returns; report what changed."""
    result = BatchResult()
    for raw in records:
        try:
            event = decode_touchpoint(raw)
            event_time = occurred_at_epoch(event)
        except ValueError as error:
            result.dead_letters.append(DeadLetter(raw=raw, reason=str(error)))
            continue
        constituent_id = event["constituent_id"]
        state = result.changed.get(constituent_id) or load_state(constituent_id)
        if state is None:
            state = ConstituentState(constituent_id=constituent_id)
        outcome = apply_event(state, event, event_time, model)
        result.outcomes[(event["source"], event["type"], outcome)] += 1
        if outcome is Outcome.DUPLICATE:
            continue
        result.changed[constituent_id] = state
        result.event_times.append(event_time)
        if event["type"] == "donation.failed":
            result.alerts.append(failed_transaction_alert(event))
    return result


def score_record(state: ConstituentState, model: ScoringModel) -> dict[str, Any]:
    """What the scorer publishes to ``constituent-scores`` for one constituent."""
    published = state.to_dict()
    del published["recent_event_ids"]
    published["scores"] = scores_at(state, model, state.reference_time).to_dict()
    return published
