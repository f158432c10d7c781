"""One batch of raw touchpoint records in, changed constituent states and alerts out. Pure: no I/O.

The Faust agent hands over a whole batch so that each constituent's state is read and written once per
batch, however many of its events the batch holds (the per-write cost is Faust's bottleneck). A record
holds one event (a JSON object) or several (a JSON array) of the constituent its key names: the key
decides the partition, and so which worker holds that constituent's state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.domain.alerts import Alert, failed_transaction_alert, note_score, score_alert_update
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


def decode_touchpoints(raw: bytes) -> list[Any]:
    """The events in one record (an object or an array of them); ValueError when it is not JSON."""
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from error
    return decoded if isinstance(decoded, list) else [decoded]


def touchpoint_problem(event: Any) -> str | None:
    """Why a decoded item cannot be scored (ingest validated it; other producers may not have)."""
    if not isinstance(event, dict):
        return "not a JSON object"
    missing = [name for name in REQUIRED_TEXT_FIELDS if not isinstance(event.get(name), str)]
    if missing:
        return f"missing or not text: {', '.join(missing)}"
    return None


def process_batch(
    records: Iterable[tuple[bytes | None, bytes]],
    load_state: Callable[[str], ConstituentState | None],
    model: ScoringModel,
    now: float,
) -> BatchResult:
    """Fold a batch of (key, value) records into the states ``load_state`` returns; report what changed.

    ``now`` is the scorer's clock, used only to refuse events dated too far in the future.
    """
    result = BatchResult()
    loaded: dict[str, ConstituentState] = {}
    latest: dict[str, tuple[float, dict[str, Any]]] = {}  # newest event per constituent, for evidence
    for key, raw in records:
        try:
            events = decode_touchpoints(raw)
        except ValueError as error:
            result.dead_letters.append(DeadLetter(raw=raw, reason=str(error)))
            continue
        for event in events:
            problem = touchpoint_problem(event)
            if problem is None and key is not None and event["constituent_id"].encode() != key:
                problem = f"constituent_id {event['constituent_id']!r} differs from the record key {key!r}"
            if problem is None:
                try:
                    event_time = occurred_at_epoch(event)
                except ValueError as error:
                    problem = f"occurred_at: {error}"
                else:
                    if event_time > now + model.max_future_seconds:
                        problem = (
                            f"occurred_at is {event_time - now:.0f} s ahead of the scorer's clock "
                            f"(at most {model.max_future_seconds:g} s allowed)"
                        )
            if problem is not None:
                result.dead_letters.append(DeadLetter(raw=orjson.dumps(event), reason=problem))
                continue
            state = loaded.get(event["constituent_id"]) or _first_touch(event, event_time, load_state, model)
            loaded[state.constituent_id] = state
            outcome = apply_event(state, event, event_time, model)
            result.outcomes[(event["source"], event["type"], outcome)] += 1
            if outcome is Outcome.DUPLICATE:
                continue
            result.changed[state.constituent_id] = state
            result.event_times.append(event_time)
            if event["type"] == "donation.failed":
                result.alerts.append(failed_transaction_alert(event))
            if event_time >= latest.get(state.constituent_id, (event_time, event))[0]:
                latest[state.constituent_id] = (event_time, event)
    for constituent_id, state in result.changed.items():
        overall = scores_at(state, model, state.reference_time).overall
        note_score(state, state.reference_time, overall, model)
        alert = score_alert_update(state, overall, model, latest[constituent_id][1])
        if alert is not None:
            result.alerts.append(alert)
    return result


def _first_touch(
    event: dict[str, Any],
    event_time: float,
    load_state: Callable[[str], ConstituentState | None],
    model: ScoringModel,
) -> ConstituentState:
    """Load (or create) a state, noting its score before this batch so that a drop within it shows."""
    state = load_state(event["constituent_id"]) or ConstituentState(constituent_id=event["constituent_id"])
    at = state.reference_time if state.events else event_time
    note_score(state, at, scores_at(state, model, at).overall, model)
    return state


def score_record(state: ConstituentState, model: ScoringModel, updated_at: float) -> dict[str, Any]:
    """What the scorer publishes to ``constituent-scores`` for one constituent."""
    published = state.to_dict()
    for internal in ("recent_event_ids", "score_peaks", "score_alerts_opened"):
        del published[internal]
    published["scores"] = scores_at(state, model, state.reference_time).to_dict()
    published["updated_at"] = updated_at
    return published
