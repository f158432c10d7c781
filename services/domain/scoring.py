"""The experience score and the rolling facts behind it, per constituent. Pure: no I/O.

Each event type has impact points per dimension (content, operations, principles). Per event type the
scorer keeps the sum of its impacts, each decayed by half every ``half_life_hours`` of *event* time, held
at a reference time (the newest event seen). Adding a decayed term is commutative, so the same set of
events gives the same sums whatever order they arrive in; a score is read at any instant by decaying the
sums to it and mapping them onto 0–100 around the baseline. Keeping the sums per event type is what lets
the API explain a score (services/domain/readings.py reads scores, history and counts off a state).
See docs/scoring.md.
"""

from __future__ import annotations

import math
from bisect import insort
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, Final

from services.domain import dedup
from services.domain.matching import matches
from services.domain.scoring_model import RETAINED_HOURS, SECONDS_PER_HOUR, ScoringModel

KEY_SEPARATOR = "|"  # rolling counts are keyed "source|type"
GIVING_PERIOD_SECONDS = 30 * 86400.0  # gifts are summed per 30-day period of event time ...
GIVING_PERIODS_KEPT = 12  # ... and the last twelve kept: "giving in the last 12 months"
OTHER = "other"  # what an event type the model does not score, or a source it does not know, counts as


class Outcome(Enum):
    SCORED = "scored"
    DUPLICATE = "duplicate"
    UNKNOWN_TYPE = "unknown_type"
    ERASED = "erased"  # written before its constituent's erasure: dropped (domain/erasure.py)


def _hour(epoch: float) -> int:
    return int(epoch // SECONDS_PER_HOUR)


@dataclass(slots=True, init=False)
class ConstituentState:
    """What the scorer keeps per constituent (stored as JSON in the changelog-backed table).

    Every field folds commutatively (decayed sums, counts, maxima, set unions), so the state does not
    depend on arrival order. ``__init__`` is written out below rather than generated: mypyc compiles a
    hand-written one, while the dataclasses module's runs interpreted (4× slower; one per state loaded).
    """

    constituent_id: str
    reference_time: float = 0.0
    # event type -> [content, operations, principles] impact sums, decayed to reference_time
    contributions: dict[str, list[float]] = field(default_factory=dict)
    # every event id counted, per day of event time (services/domain/dedup.py)
    seen_event_ids: dict[str, str] = field(default_factory=dict)
    # lifetime counts and hourly buckets (hour index as text, for JSON) of "source|type"
    counts: dict[str, int] = field(default_factory=dict)
    hourly: dict[str, dict[str, int]] = field(default_factory=dict)
    last_touch: dict[str, float] = field(default_factory=dict)  # source -> newest event time
    roles: list[str] = field(default_factory=list)
    events: int = 0
    # donation.succeeded amounts per 30-day period of event time (index as text), the newest 12 kept
    giving: dict[str, float] = field(default_factory=dict)
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
    # recurring-gift recovery cases (services/domain/alerts/recovery.py): published, shown by the API
    recovery: list[dict[str, Any]] = field(default_factory=list)
    recovery_early: list[dict[str, Any]] = field(default_factory=list)  # steps seen before their failure
    # the Mission Experience report (services/domain/report/contributions.py): points per recent window
    # (in all and per source), and since when each role is held
    report_windows: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    role_since: dict[str, float] = field(default_factory=dict)

    def __init__(  # the fields above, in their order, with their defaults (a unit test checks)
        self,
        constituent_id: str,
        reference_time: float = 0.0,
        contributions: dict[str, list[float]] | None = None,
        seen_event_ids: dict[str, str] | None = None,
        counts: dict[str, int] | None = None,
        hourly: dict[str, dict[str, int]] | None = None,
        last_touch: dict[str, float] | None = None,
        roles: list[str] | None = None,
        events: int = 0,
        giving: dict[str, float] | None = None,
        timeline: list[list[Any]] | None = None,
        score_peaks: dict[str, float] | None = None,
        score_alerts_opened: int = 0,
        score_alert_opened_at: str | None = None,
        failed_transaction: dict[str, Any] | None = None,
        handoffs: list[dict[str, Any]] | None = None,
        early_follow_ups: list[dict[str, Any]] | None = None,
        recovery: list[dict[str, Any]] | None = None,
        recovery_early: list[dict[str, Any]] | None = None,
        report_windows: dict[str, dict[str, list[int]]] | None = None,
        role_since: dict[str, float] | None = None,
    ) -> None:
        self.constituent_id = constituent_id
        self.reference_time = reference_time
        self.contributions = {} if contributions is None else contributions
        self.seen_event_ids = {} if seen_event_ids is None else seen_event_ids
        self.counts = {} if counts is None else counts
        self.hourly = {} if hourly is None else hourly
        self.last_touch = {} if last_touch is None else last_touch
        self.roles = [] if roles is None else roles
        self.events = events
        self.giving = {} if giving is None else giving
        self.timeline = [] if timeline is None else timeline
        self.score_peaks = {} if score_peaks is None else score_peaks
        self.score_alerts_opened = score_alerts_opened
        self.score_alert_opened_at = score_alert_opened_at
        self.failed_transaction = failed_transaction
        self.handoffs = [] if handoffs is None else handoffs
        self.early_follow_ups = [] if early_follow_ups is None else early_follow_ups
        self.recovery = [] if recovery is None else recovery
        self.recovery_early = [] if recovery_early is None else recovery_early
        self.report_windows = {} if report_windows is None else report_windows
        self.role_since = {} if role_since is None else role_since

    @property
    def last_event_at(self) -> float:
        return max(self.last_touch.values(), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _CONSTITUENT_STATE_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConstituentState:
        """Rebuild from ``to_dict`` output, or from the subset the scorer publishes."""
        if data.keys() <= _STATE_FIELDS:  # what the scorer stores: every key a field
            return cls(**data)
        state = cls(**{name: value for name, value in data.items() if name in _STATE_FIELDS})
        if "recent_event_ids" in data:  # written before the time-bounded dedup: keep what it remembered
            older = dedup.from_recent_ids(data["recent_event_ids"], state.last_event_at)
            state.seen_event_ids = older | state.seen_event_ids
        return state


_CONSTITUENT_STATE_FIELDS = tuple(f.name for f in fields(ConstituentState))  # not __slots__: mypyc
_STATE_FIELDS = frozenset(_CONSTITUENT_STATE_FIELDS)


class Scores:
    """Overall and per-dimension scores, 0–100. A plain class, not a dataclass: compiled by mypyc, a
    dataclass's ``__init__`` is the one the dataclasses module writes, run interpreted (~1% of the scorer's
    time, as it is made for every score read)."""

    def __init__(self, overall: float, content: float, operations: float, principles: float) -> None:
        self.overall: Final = overall
        self.content: Final = content
        self.operations: Final = operations
        self.principles: Final = principles

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scores) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def _fields(self) -> tuple[float, float, float, float]:
        return (self.overall, self.content, self.operations, self.principles)

    def __repr__(self) -> str:
        return f"Scores({self.overall}, {self.content}, {self.operations}, {self.principles})"

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
    """Fold one validated event into ``state``; a repeated event (same source and ``event_id``) changes
    nothing. Types the model does not score and sources it does not know count as ``other``, so whatever
    a caller names, the per-person maps stay as small as the model."""
    event_type, source = event["type"], event["source"]
    key = dedup_key(source, event["event_id"])
    if not dedup.first_time(state.seen_event_ids, key, event_time):
        return Outcome.DUPLICATE
    counted_source = source if source in model.sources else OTHER
    counted_type = event_type if event_type in model.impacts else OTHER
    state.events += 1
    _count(state, f"{counted_source}{KEY_SEPARATOR}{counted_type}", event_time)
    state.last_touch[counted_source] = max(state.last_touch.get(counted_source, 0.0), event_time)
    _remember(state, [event_time, source, event_type, event["event_id"]], model.timeline_length)
    if event_type == "donation.succeeded":
        _count_gift(state, event, event_time)
    for rule in model.roles_by_type.get(event_type, ()):
        if rule.role not in state.roles and matches(rule, event):
            state.roles.append(rule.role)
            state.roles.sort()

    impact = model.impacts.get(event_type)
    if impact is None:
        return Outcome.UNKNOWN_TYPE
    if event_time > state.reference_time:
        factor = decay(model, event_time - state.reference_time)
        for sums in state.contributions.values():
            sums[:] = [value * factor for value in sums]
        state.reference_time = event_time
        weight = 1.0
    else:
        weight = decay(model, state.reference_time - event_time)
    sums = state.contributions.setdefault(event_type, [0.0, 0.0, 0.0])
    sums[0] += weight * impact.content  # not impact.as_tuple(): a method of the model runs interpreted
    sums[1] += weight * impact.operations
    sums[2] += weight * impact.principles
    return Outcome.SCORED


def dedup_key(source: str, event_id: str) -> str:
    """What a constituent remembers of an event to drop its repeats: its id within its source, so one
    source cannot claim another's ids (a web key sending ``sendgrid:…`` first)."""
    return f"{source}:{event_id}"


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


def _count_gift(state: ConstituentState, event: dict[str, Any], event_time: float) -> None:
    """Add a gift's amount to its period; forget periods twelve or more before the newest (commutative:
    the same gifts give the same sums whatever their order, as with the hourly counts)."""
    amount = (event.get("attributes") or {}).get("amount")
    if not isinstance(amount, int | float) or isinstance(amount, bool) or not math.isfinite(amount):
        return
    period = int(event_time // GIVING_PERIOD_SECONDS)
    newest = max((int(p) for p in state.giving), default=period)
    if period <= max(newest, period) - GIVING_PERIODS_KEPT:
        return
    state.giving[str(period)] = round(state.giving.get(str(period), 0.0) + float(amount), 2)
    if period > newest:
        for stale in [p for p in state.giving if int(p) <= period - GIVING_PERIODS_KEPT]:
            del state.giving[stale]


def giving_12_months(state: ConstituentState) -> float:
    """What the constituent gave (``donation.succeeded`` amounts, any currency) in the twelve 30-day
    periods up to their newest gift."""
    return round(sum(state.giving.values()), 2)


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
    factor = decay(model, max(0.0, at - state.reference_time)) if state.contributions else 1.0
    return scores_from_totals(model, [content * factor, operations * factor, principles * factor])


def scores_from_totals(model: ScoringModel, totals: list[float]) -> Scores:
    baseline, saturation = model.baseline, model.saturation
    content = _dimension_score(baseline, saturation, totals[0])
    operations = _dimension_score(baseline, saturation, totals[1])
    principles = _dimension_score(baseline, saturation, totals[2])
    weights = model.weights
    overall = weights.content * content + weights.operations * operations + weights.principles * principles
    return Scores(overall, content, operations, principles)


def decay(model: ScoringModel, seconds: float) -> float:
    """The factor an impact keeps after ``seconds`` of event time (here, compiled, rather than a method of
    the model: it runs for every event)."""
    return float(0.5 ** (seconds / (model.half_life_hours * SECONDS_PER_HOUR)))


def dimension_score(model: ScoringModel, impact_sum: float) -> float:
    """Map a decayed impact sum onto 0–100 by ``model``'s baseline and saturation."""
    return _dimension_score(model.baseline, model.saturation, impact_sum)


def _dimension_score(baseline: float, saturation: float, impact_sum: float) -> float:
    """Map a decayed impact sum onto 0–100: the baseline at 0, saturating smoothly at the ends. Here, not a
    method of the (pydantic, so interpreted) model: it runs three times for every score read."""
    room = 100.0 - baseline if impact_sum >= 0 else baseline
    return baseline + room * math.tanh(impact_sum / saturation)
