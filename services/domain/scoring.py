"""The experience score and the rolling facts behind it, per constituent. Pure: no I/O.

Each event type has impact points per dimension (content, operations, principles). Per event type the
scorer keeps the sum of its impacts, each decayed by half every ``half_life_hours`` of *event* time, held
at a reference time (the newest event seen). Adding a decayed term is commutative, so the same set of
events gives the same sums whatever order they arrive in; a score is read at any instant by decaying the
sums to it and mapping them onto 0–100 around the baseline. Keeping the sums per event type is what lets
the API explain a score. See docs/scoring.md.
"""

from __future__ import annotations

import math
from bisect import insort
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any

from pydantic import Field, model_validator

from services.domain.config import EventMatch, StrictModel, parse_toml

DIMENSIONS = ("content", "operations", "principles")
SECONDS_PER_HOUR = 3600.0
# Rolling windows the API reports; hourly buckets are kept for the longest of them.
WINDOWS_HOURS = {"24h": 24, "7d": 7 * 24, "30d": 30 * 24}
RETAINED_HOURS = max(WINDOWS_HOURS.values())
HISTORY_HALF_LIVES = 20  # how far back score_history rebuilds (growth by at most 2**20)
# what the scorer keeps for itself: not published to constituent-scores
INTERNAL_FIELDS = (
    "recent_event_ids",
    "score_peaks",
    "score_alerts_opened",
    "failed_transaction",
    "handoffs",
    "early_follow_ups",
)
KEY_SEPARATOR = "|"  # rolling counts are keyed "source|type"


class DimensionWeights(StrictModel):
    content: float = Field(ge=0, le=1)
    operations: float = Field(ge=0, le=1)
    principles: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> DimensionWeights:
        total = self.content + self.operations + self.principles
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(f"weights must sum to 1, they sum to {total:g}")
        return self


class Impact(StrictModel):
    content: float = 0.0
    operations: float = 0.0
    principles: float = 0.0

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.content, self.operations, self.principles)


class RoleRule(EventMatch):
    """A constituent takes ``role`` once any event matching this rule is seen."""

    role: str = Field(pattern=r"^[a-z][a-z_]*$")


class ScoreAlertRule(StrictModel):
    """When a constituent's overall score counts as having dropped (see domain/alerts.py)."""

    drop_points: float = Field(gt=0, le=100)
    drop_window_hours: int = Field(ge=1, le=RETAINED_HOURS)
    floor: float = Field(ge=0, le=100)


class ScoringModel(StrictModel):
    """The scoring configuration (deploy/config/scoring.toml), validated."""

    version: int = Field(ge=1, le=1)
    baseline: float = Field(gt=0, lt=100)
    half_life_hours: float = Field(gt=0)
    saturation: float = Field(gt=0)
    dedup_window: int = Field(ge=1, le=10_000)
    timeline_length: int = Field(20, ge=0, le=200)
    max_future_seconds: float = Field(ge=0)
    failure_types: frozenset[str]
    weights: DimensionWeights
    score_alert: ScoreAlertRule
    impacts: dict[str, Impact]
    roles: tuple[RoleRule, ...] = ()

    @classmethod
    def from_toml(cls, text: str, origin: str = "scoring config") -> ScoringModel:
        return parse_toml(cls, text, origin)

    @cached_property
    def roles_by_type(self) -> dict[str, tuple[RoleRule, ...]]:
        """The role rules an event of each type could match: most events match none, cheaply."""
        types = {rule.type for rule in self.roles}
        return {t: tuple(rule for rule in self.roles if rule.type == t) for t in types}

    def decay(self, seconds: float) -> float:
        """The factor an impact keeps after ``seconds`` of event time."""
        return float(0.5 ** (seconds / (self.half_life_hours * SECONDS_PER_HOUR)))

    def dimension_score(self, impact_sum: float) -> float:
        """Map a decayed impact sum onto 0–100: the baseline at 0, saturating smoothly at the ends."""
        room = 100.0 - self.baseline if impact_sum >= 0 else self.baseline
        return self.baseline + room * math.tanh(impact_sum / self.saturation)


class Outcome(Enum):
    SCORED = "scored"
    DUPLICATE = "duplicate"
    UNKNOWN_TYPE = "unknown_type"


def _hour(epoch: float) -> int:
    return int(epoch // SECONDS_PER_HOUR)


@dataclass(slots=True)
class ConstituentState:
    """What the scorer keeps per constituent (stored as JSON in the changelog-backed table).

    Every field folds commutatively (decayed sums, counts, maxima, set unions), so the state does not
    depend on arrival order.
    """

    constituent_id: str
    reference_time: float = 0.0
    # event type -> [content, operations, principles] impact sums, decayed to reference_time
    contributions: dict[str, list[float]] = field(default_factory=dict)
    recent_event_ids: list[str] = field(default_factory=list)
    # lifetime counts and hourly buckets (hour index as text, for JSON) of "source|type"
    counts: dict[str, int] = field(default_factory=dict)
    hourly: dict[str, dict[str, int]] = field(default_factory=dict)
    last_touch: dict[str, float] = field(default_factory=dict)  # source -> newest event time
    roles: list[str] = field(default_factory=list)
    events: int = 0
    # the newest ``timeline_length`` touchpoints by event time: [occurred_at epoch, source, type, event_id]
    timeline: list[list[Any]] = field(default_factory=list)
    # overall score peaks per hour, and the score.dropped alert: how many opened, since when open
    score_peaks: dict[str, float] = field(default_factory=dict)
    score_alerts_opened: int = 0
    score_alert_opened_at: str | None = None
    # alert lifecycles (services/domain/alerts.py, handoffs.py): the open failed-payment alert, the
    # hand-offs this constituent is owed, follow-ups seen before their trigger
    failed_transaction: dict[str, Any] | None = None
    handoffs: list[dict[str, Any]] = field(default_factory=list)
    early_follow_ups: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_event_at(self) -> float:
        return max(self.last_touch.values(), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConstituentState:
        """Rebuild from ``to_dict`` output, or from the subset the scorer publishes."""
        return cls(**{name: value for name, value in data.items() if name in cls.__slots__})  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Scores:
    overall: float
    content: float
    operations: float
    principles: float

    def to_dict(self) -> dict[str, float]:
        return {
            "overall": round(self.overall, 2),
            "content": round(self.content, 2),
            "operations": round(self.operations, 2),
            "principles": round(self.principles, 2),
        }


def apply_event(
    state: ConstituentState, event: dict[str, Any], event_time: float, model: ScoringModel
) -> Outcome:
    """Fold one validated event into ``state``; a repeated ``event_id`` changes nothing."""
    event_id = event["event_id"]
    if event_id in state.recent_event_ids:
        return Outcome.DUPLICATE
    state.recent_event_ids.append(event_id)
    if len(state.recent_event_ids) > model.dedup_window:
        del state.recent_event_ids[0]
    event_type, source = event["type"], event["source"]
    state.events += 1
    _count(state, f"{source}{KEY_SEPARATOR}{event_type}", event_time)
    state.last_touch[source] = max(state.last_touch.get(source, 0.0), event_time)
    _remember(state, [event_time, source, event_type, event_id], model.timeline_length)
    for rule in model.roles_by_type.get(event_type, ()):
        if rule.role not in state.roles and rule.matches(event):
            state.roles.append(rule.role)
            state.roles.sort()

    impact = model.impacts.get(event_type)
    if impact is None:
        return Outcome.UNKNOWN_TYPE
    if event_time > state.reference_time:
        factor = model.decay(event_time - state.reference_time)
        for sums in state.contributions.values():
            sums[:] = [value * factor for value in sums]
        state.reference_time = event_time
        weight = 1.0
    else:
        weight = model.decay(state.reference_time - event_time)
    sums = state.contributions.setdefault(event_type, [0.0, 0.0, 0.0])
    for index, points in enumerate(impact.as_tuple()):
        sums[index] += weight * points
    return Outcome.SCORED


def _count(state: ConstituentState, key: str, event_time: float) -> None:
    state.counts[key] = state.counts.get(key, 0) + 1
    newest_hour = _hour(state.last_event_at) if state.last_touch else _hour(event_time)
    hour = _hour(event_time)
    oldest_kept = max(newest_hour, hour) - RETAINED_HOURS
    if hour > oldest_kept:
        bucket = state.hourly.setdefault(str(hour), {})
        bucket[key] = bucket.get(key, 0) + 1
    if hour > newest_hour:
        for stale in [h for h in state.hourly if int(h) <= oldest_kept]:
            del state.hourly[stale]


def _remember(state: ConstituentState, touch: list[Any], length: int) -> None:
    """Keep the newest ``length`` touchpoints by (event time, id): the same set whatever the arrival order."""
    if length == 0 or (len(state.timeline) >= length and touch <= state.timeline[0]):
        return
    insort(state.timeline, touch)
    del state.timeline[: max(0, len(state.timeline) - length)]


def scores_at(state: ConstituentState, model: ScoringModel, at: float) -> Scores:
    """The scores as they stand at instant ``at`` (never earlier than the newest scored event)."""
    content = operations = principles = 0.0
    for sums in state.contributions.values():
        content += sums[0]
        operations += sums[1]
        principles += sums[2]
    factor = model.decay(max(0.0, at - state.reference_time)) if state.contributions else 1.0
    return _scores_from_totals(model, [content * factor, operations * factor, principles * factor])


def _scores_from_totals(model: ScoringModel, totals: list[float]) -> Scores:
    content = model.dimension_score(totals[0])
    operations = model.dimension_score(totals[1])
    principles = model.dimension_score(totals[2])
    weights = model.weights
    overall = weights.content * content + weights.operations * operations + weights.principles * principles
    return Scores(overall, content, operations, principles)


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
                weight = model.decay(state.reference_time - float(newer[0]))
                later = [
                    total - weight * points for total, points in zip(later, impact.as_tuple(), strict=True)
                ]
        growth = 1 / model.decay(max(0.0, state.reference_time - at))
        history.append((at, _scores_from_totals(model, [total * growth for total in later])))
    history.reverse()
    return history


def explain(state: ConstituentState, model: ScoringModel, at: float, top: int = 5) -> list[dict[str, Any]]:
    """The event types that move the score most right now, with their decayed points per dimension."""
    factor = model.decay(max(0.0, at - state.reference_time))
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
    now_hour = _hour(at)
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
    return published
