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
from services.domain.scoring_model import DIMENSIONS, SECONDS_PER_HOUR, WINDOWS_HOURS, ScoringModel

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
    history: list[tuple[float, Scores]] = []
    for position in range(len(state.timeline) - 1, -1, -1):
        at = float(state.timeline[position][0])
        if at < oldest:
            break
        if position + 1 < len(state.timeline) and state.timeline[position + 1][0] == at:
            continue  # several touchpoints at one instant: one point, after all of them
        later = totals[:]
        for newer in state.timeline[position + 1 :]:
            impact = model.impacts.get(newer[2])
            if impact is not None:
                weight = decay(model, state.reference_time - float(newer[0]))
                later = [
                    total - weight * points for total, points in zip(later, impact.as_tuple(), strict=True)
                ]
        growth = 1 / decay(model, max(0.0, state.reference_time - at))
        history.append((at, scores_from_totals(model, [total * growth for total in later])))
    history.reverse()
    return history


def explain(state: ConstituentState, model: ScoringModel, at: float, top: int = 5) -> list[dict[str, Any]]:
    """The event types that move the score most right now, with their decayed points per dimension."""
    factor = decay(model, max(0.0, at - state.reference_time))
    lifetime = lifetime_counts(state)["by_type"]
    rows = []
    for event_type, sums in state.contributions.items():
        points = {d: round(value * factor, 3) for d, value in zip(DIMENSIONS, sums, strict=True)}
        weighted = sum(getattr(model.weights, d) * points[d] for d in DIMENSIONS)
        row = {"type": event_type, "events": lifetime.get(event_type, 0), "points": points}
        rows.append({**row, "weighted_points": round(weighted, 3)})
    rows.sort(key=lambda row: abs(row["weighted_points"]), reverse=True)
    return [row for row in rows[:top] if row["weighted_points"] != 0]


def rolling_counts(state: ConstituentState, model: ScoringModel, at: float) -> dict[str, dict[str, Any]]:
    """Counts by source and by type, and failures, over each window ending at ``at`` (event time)."""
    now_hour = int(at // SECONDS_PER_HOUR)
    result: dict[str, dict[str, Any]] = {}
    for name, hours in WINDOWS_HOURS.items():
        in_window = (
            (key, count)
            for hour, bucket in state.hourly.items()
            if now_hour - hours < int(hour) <= now_hour
            for key, count in bucket.items()
        )
        counts = _by_source_and_type(in_window)
        failures = sum(n for event_type, n in counts["by_type"].items() if event_type in model.failure_types)
        result[name] = {**counts, "failures": failures}
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
