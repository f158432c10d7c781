"""What is read off a constituent's state: the score history, the explanation, rolling counts, and the
record the scorer publishes (the scorer → API contract). Pure: no I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from services.domain.scoring import (
    KEY_SEPARATOR,
    ConstituentState,
    Scores,
    decay,
    scores_at,
    scores_from_totals,
)
from services.domain.scoring_model import SECONDS_PER_HOUR, WINDOWS_HOURS, ScoringModel

HISTORY_HALF_LIVES = 20  # how far back score_history rebuilds (growth by at most 2**20)
# what the scorer keeps for itself: not published to constituent-scores
INTERNAL_FIELDS = (
    "seen_event_ids",
    "score_peaks",
    "score_alerts_opened",
    "failed_transaction",
    "handoffs",
    "early_follow_ups",
    "recovery_early",
    "report_windows",
    "role_since",
)


def score_history(state: ConstituentState, model: ScoringModel) -> list[tuple[float, Scores]]:
    """The scores just after each timeline touchpoint, oldest first, rebuilt from the sums.

    Every event newer than the oldest kept touchpoint is in the timeline, so the decayed sum at an
    earlier instant t is the current sum minus the timeline's newer impacts, grown back by the decay
    from t to the reference time: exact, not sampled, and order-independent like the sums themselves.
    Growing back is exact only while the factor stays small, so points more than
    ``HISTORY_HALF_LIVES`` half-lives before the newest event are left out.
    """
    oldest = state.reference_time - HISTORY_HALF_LIVES * model.half_life_hours * SECONDS_PER_HOUR
    totals = [sum(sums[i] for sums in state.contributions.values()) for i in range(3)]
    timeline = state.timeline
    # each touchpoint's decayed impact, worked out once (not once per older point: a GET's largest cost)
    decayed: list[tuple[float, tuple[float, float, float]] | None] = []
    for touch in timeline:
        impact = model.impacts.get(touch[2])
        weight = decay(model, state.reference_time - float(touch[0])) if impact is not None else 0.0
        decayed.append(None if impact is None else (weight, impact.as_tuple()))
    history: list[tuple[float, Scores]] = []
    for position in range(len(timeline) - 1, -1, -1):
        at = float(timeline[position][0])
        if at < oldest:
            break
        if position + 1 < len(timeline) and timeline[position + 1][0] == at:
            continue  # several touchpoints at one instant: one point, after all of them
        content, operations, principles = totals
        for newer in decayed[position + 1 :]:  # subtracted in the same order as always: the same floats
            if newer is not None:
                weight, points = newer
                content -= weight * points[0]
                operations -= weight * points[1]
                principles -= weight * points[2]
        growth = 1 / decay(model, max(0.0, state.reference_time - at))
        history.append(
            (at, scores_from_totals(model, [content * growth, operations * growth, principles * growth]))
        )
    history.reverse()
    return history


def explain(
    state: ConstituentState,
    model: ScoringModel,
    at: float,
    top: int = 5,
    lifetime: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """The event types that move the score most right now, with their decayed points per dimension.
    ``lifetime``: the events per type (``lifetime_counts(state)["by_type"]``), when the caller has it."""
    factor = decay(model, max(0.0, at - state.reference_time))
    by_type = lifetime_counts(state)["by_type"] if lifetime is None else lifetime
    weights = model.weights
    content_weight, operations_weight, principles_weight = (
        weights.content,
        weights.operations,
        weights.principles,
    )
    rows = []
    for event_type, sums in state.contributions.items():
        content = round(sums[0] * factor, 3)
        operations = round(sums[1] * factor, 3)
        principles = round(sums[2] * factor, 3)
        weighted = content_weight * content + operations_weight * operations + principles_weight * principles
        rows.append(
            {
                "type": event_type,
                "events": by_type.get(event_type, 0),
                "points": {"content": content, "operations": operations, "principles": principles},
                "weighted_points": round(weighted, 3),
            }
        )
    rows.sort(key=_weight_of, reverse=True)
    return [row for row in rows[:top] if row["weighted_points"] != 0]


def _weight_of(row: dict[str, Any]) -> float:
    return abs(row["weighted_points"])  # type: ignore[no-any-return]


def rolling_counts(state: ConstituentState, model: ScoringModel, at: float) -> dict[str, dict[str, Any]]:
    """Counts by source and by type, and failures, over each window ending at ``at`` (event time)."""
    now_hour = int(at // SECONDS_PER_HOUR)
    # each bucket's hour and each key's parts read once, not once per window
    buckets = [(now_hour - int(hour), bucket) for hour, bucket in state.hourly.items()]
    parts: dict[str, tuple[str, str]] = {}
    for _, bucket in buckets:
        for key in bucket:
            if key not in parts:
                source, event_type = key.split(KEY_SEPARATOR, 1)
                parts[key] = (source, event_type)
    result: dict[str, dict[str, Any]] = {}
    for name, hours in WINDOWS_HOURS.items():
        by_source: dict[str, int] = {}
        by_type: dict[str, int] = {}
        for age, bucket in buckets:
            if 0 <= age < hours:
                for key, count in bucket.items():
                    source, event_type = parts[key]
                    by_source[source] = by_source.get(source, 0) + count
                    by_type[event_type] = by_type.get(event_type, 0) + count
        failures = sum(n for event_type, n in by_type.items() if event_type in model.failure_types)
        result[name] = {"by_source": by_source, "by_type": by_type, "failures": failures}
    return result


def lifetime_counts(state: ConstituentState) -> dict[str, dict[str, int]]:
    return _by_source_and_type(state.counts.items())


def _by_source_and_type(counts: Iterable[tuple[str, int]]) -> dict[str, dict[str, int]]:
    by_source: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    for key, count in counts:
        source, event_type = key.split(KEY_SEPARATOR, 1)
        by_source[source] += count
        by_type[event_type] += count
    return {"by_source": dict(by_source), "by_type": dict(by_type)}


def score_record(state: ConstituentState, model: ScoringModel, updated_at: float) -> dict[str, Any]:
    """What the scorer publishes to ``constituent-scores`` for one constituent (what the API serves)."""
    published = state.to_dict()
    for internal in INTERNAL_FIELDS:
        del published[internal]
    published["scores"] = scores_at(state, model, state.reference_time).to_dict()
    published["updated_at"] = updated_at
    published["model_version"] = model.fingerprint
    return published
