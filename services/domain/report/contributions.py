"""What one scored event adds to the report windows: a person's window experience, the drivers, failed
gifts. Pure.

**A person's window experience** is the score their touchpoints *in that window alone* give, by the
scoring model's own arithmetic (impact points per dimension, mapped onto 0–100 around the baseline; no
decay inside a window): how people experienced the organisation that hour or day. The population's
mean and distribution per window are over the people with a touchpoint in it — in all, per role held by
the window's end, and per source (that source's touchpoints alone). Each person keeps their points per
window (in thousandths, so any order sums exactly) while the window is within ``HORIZON_S`` of their
newest event; a change moves them in the counters: their old window score out, the new one in.

Roles count from the first event that granted them (``role_since``), so a role gained by an event that
arrives late still places the person in the right windows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from services.domain.matching import matches
from services.domain.report.counters import (
    GRANULARITIES,
    HORIZON_S,
    WindowCounters,
    add,
    cents,
    counter_of,
    granularity_of,
    window_bounds,
    window_of,
)
from services.domain.scoring import OTHER, ConstituentState, scores_from_totals
from services.domain.scoring_model import DIMENSIONS, ScoringModel

ALL = "all"
BINS = 10  # histogram of window scores: [0, 10), [10, 20), … [90, 100]
PROCESSORS = frozenset({"stripe", "paypal", "braintree", "adyen", "square", "gocardless", "cash", "check"})
ERROR_CODES = frozenset(
    {
        "card_declined", "insufficient_funds", "expired_card", "incorrect_cvc", "incorrect_number",
        "processing_error", "gateway_timeout", "do_not_honor", "generic_decline", "lost_card", "stolen_card",
        "fraudulent", "authentication_required", "try_again_later", "invalid_account",
        "currency_not_supported",
    }
)  # fmt: skip
NO_REASON = "none"
Points = list[int]  # [content, operations, principles], thousandths of a point
Scores4 = tuple[int, int, int, int]  # overall, content, operations, principles in hundredths
SCORE_NAMES = ("overall", *DIMENSIONS)
HOUR_HORIZON, DAY_HORIZON = HORIZON_S["hour"], HORIZON_S["day"]
_SOURCE_PARTS: dict[str, str] = {}
_SCORES: dict[tuple[int, int, int, int], Scores4] = {}  # (model, points) → window scores: few distinct sums
# ~440 B an entry: 20,000 is ~9 MB. The simulator's mix over 20,000 people needs 2,621 (99.4% hits); a few
# people with hundreds of events a window (a soak) make every sum new, and then the cache only costs memory.
_SCORES_LIMIT = 20_000
_MILLI: dict[tuple[int, str], tuple[Points, int] | None] = {}  # (model, type) → points, weighted points


def _milli(model: ScoringModel, event_type: str) -> tuple[Points, int] | None:
    """The type's impact in thousandths of a point, and its weighted total (the ``explain`` arithmetic)."""
    key = (id(model), event_type)
    if key not in _MILLI:
        impact = model.impacts.get(event_type)
        if impact is None:
            _MILLI[key] = None
        else:
            points = [round(p * 1000) for p in impact.as_tuple()]
            weights = (model.weights.content, model.weights.operations, model.weights.principles)
            _MILLI[key] = (points, round(sum(w * p for w, p in zip(weights, points, strict=True))))
    return _MILLI[key]


def window_scores(model: ScoringModel, points: Points) -> Scores4:
    """Overall, content, operations, principles in hundredths, from a window's points."""
    key = (id(model), points[0], points[1], points[2])
    found = _SCORES.get(key)
    if found is None:
        scores = scores_from_totals(model, [value / 1000 for value in points])
        found = (
            round(scores.overall * 100),
            round(scores.content * 100),
            round(scores.operations * 100),
            round(scores.principles * 100),
        )
        if len(_SCORES) > _SCORES_LIMIT:
            _SCORES.clear()
        _SCORES[key] = found
    return found


_GROUP_KEYS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}


def _group_keys(group: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The counter names of a group (made once: a batch moves thousands of people)."""
    keys = _GROUP_KEYS.get(group)
    if keys is None:
        keys = _GROUP_KEYS[group] = (
            f"people|{group}",
            tuple(f"sum|{group}|{name}" for name in SCORE_NAMES),
            tuple(f"hist|{group}|{n}" for n in range(BINS)),
        )
    return keys


def _person(counted: Counter[str], group: str, scores: Scores4, sign: int) -> None:
    people, sums, bands = _group_keys(group)
    counted[people] += sign
    for name, value in zip(sums, scores, strict=True):
        counted[name] += sign * value
    counted[bands[_band(scores[0])]] += sign


def _band(overall: int) -> int:
    """The histogram bin of an overall score in hundredths."""
    return min(BINS - 1, overall // (10_000 // BINS))


def _move(counted: Counter[str], group: str, old: Scores4, new: Scores4) -> None:
    """A person staying in ``group`` whose window scores went from ``old`` to ``new``: what ``_person``
    out and in would add, without the increments that cancel (the common case, and half the updates)."""
    _, sums, bands = _group_keys(group)
    for name, before, after in zip(sums, old, new, strict=True):
        if after != before:
            counted[name] += after - before
    old_band, new_band = _band(old[0]), _band(new[0])
    if old_band != new_band:
        counted[bands[old_band]] -= 1
        counted[bands[new_band]] += 1


@dataclass
class Journal:
    """One batch's changes to people's windows: what each touched person's windows and roles were before
    the batch, so that ``flush`` moves each person once per window, however many of their events the batch
    held (the per-event cost of the report is then a few dictionary updates)."""

    before: dict[str, tuple[dict[str, dict[str, Points]], dict[str, float]]] = field(default_factory=dict)

    def note(self, state: ConstituentState) -> None:
        if state.constituent_id not in self.before:
            windows = {
                w: {part: list(p) for part, p in parts.items()} for w, parts in state.report_windows.items()
            }
            self.before[state.constituent_id] = (windows, dict(state.role_since))

    def flush(
        self, states: dict[str, ConstituentState], model: ScoringModel, counters: WindowCounters
    ) -> None:
        """Each touched person's old window scores out of their groups, the new ones in."""
        for constituent_id, (windows_before, roles_before) in self.before.items():
            state = states[constituent_id]
            roles_changed = roles_before != state.role_since
            for window, parts in state.report_windows.items():
                old_parts = windows_before.get(window, {})
                if not roles_changed and old_parts == parts:
                    continue
                end = window_bounds(window)[1]
                counted = counter_of(counters, window)
                old_roles = _roles_in(roles_before, end) if roles_before else []
                new_roles = _roles_in(state.role_since, end) if state.role_since else []
                for part, new in parts.items():
                    old = old_parts.get(part)
                    old_groups = [part, *old_roles] if part == ALL else [part]
                    new_groups = [part, *new_roles] if part == ALL else [part]
                    if old == new and old_groups == new_groups:
                        continue
                    new_scores = window_scores(model, new)
                    if old is None:
                        for group in new_groups:
                            _person(counted, group, new_scores, +1)
                        continue
                    old_scores = window_scores(model, old)
                    for group in old_groups:
                        if group in new_groups:
                            _move(counted, group, old_scores, new_scores)
                        else:
                            _person(counted, group, old_scores, -1)
                    for group in new_groups:
                        if group not in old_groups:
                            _person(counted, group, new_scores, +1)
        self.before.clear()


def _roles_in(role_since: dict[str, float], end: float) -> list[str]:
    """The role groups held in a window ending at ``end``: roles granted before it."""
    return [f"role:{role}" for role, since in sorted(role_since.items()) if since < end]


def on_event(
    state: ConstituentState,
    event: dict[str, Any],
    event_time: float,
    model: ScoringModel,
    counters: WindowCounters,
    journal: Journal,
) -> None:
    """Fold one scored (not duplicate) event into the person's windows (moved in the counters when the
    batch's ``journal`` is flushed) and into the batch's drivers and failed gifts."""
    event_type = event["type"]
    impact = _milli(model, event_type)
    journal.note(state)
    for rule in model.roles_by_type.get(event_type, ()):
        if matches(rule, event):
            known = state.role_since.get(rule.role)
            state.role_since[rule.role] = event_time if known is None else min(known, event_time)
    newest = max(state.last_event_at, event_time)
    hour, day = int(event_time // 3600), int(event_time // 86400)
    windows = ((f"h:{hour}", (hour + 1) * 3600 + HOUR_HORIZON), (f"d:{day}", (day + 1) * 86400 + DAY_HORIZON))
    if impact is not None:
        points, weighted = impact
        source = event["source"] if event["source"] in model.sources else OTHER
        part_of_source = _SOURCE_PARTS.get(source)
        if part_of_source is None:
            part_of_source = _SOURCE_PARTS[source] = f"source:{source}"
        for window, closes in windows:
            if closes > newest:  # a window this person closed already: drivers count it, scores do not
                parts = state.report_windows.get(window)
                if parts is None:
                    parts = state.report_windows[window] = {}
                for part in (ALL, part_of_source):
                    total = parts.get(part)
                    if total is None:
                        parts[part] = list(points)
                    else:  # in place: the journal keeps its own copy of what was before the batch
                        total[0] += points[0]
                        total[1] += points[1]
                        total[2] += points[2]
            counted = counter_of(counters, window)
            points_key, events_key = _driver_keys(event_type)
            counted[points_key] += weighted
            counted[events_key] += 1
    if event_type == "donation.failed":
        for window, _ in windows:
            _failed_gift(counters, window, event)
    if len(state.report_windows) > 4:
        _forget_closed(state, newest)


_DRIVER_KEYS: dict[str, tuple[str, str]] = {}


def _driver_keys(event_type: str) -> tuple[str, str]:
    keys = _DRIVER_KEYS.get(event_type)
    if keys is None:
        keys = _DRIVER_KEYS[event_type] = (f"driver|{event_type}|points", f"driver|{event_type}|events")
    return keys


def _forget_closed(state: ConstituentState, newest: float) -> None:
    """Windows closed for this person (a memory bound: a closed window is never moved again anyway)."""
    for window in list(state.report_windows):
        if window_bounds(window)[1] + HORIZON_S[granularity_of(window)] <= newest:
            del state.report_windows[window]


def _failed_gift(counters: WindowCounters, window: str, event: dict[str, Any]) -> None:
    attributes = event.get("attributes") or {}
    processor = attributes.get("processor")
    processor = processor if processor in PROCESSORS else OTHER
    code = attributes.get("error_code")
    code = code if code in ERROR_CODES else (NO_REASON if not code else OTHER)
    amount = attributes.get("amount")
    add(counters, window, f"failed|{processor}|{code}|count", 1)
    if isinstance(amount, int | float) and not isinstance(amount, bool) and abs(amount) < 1e12:
        add(counters, window, f"failed|{processor}|{code}|cents", cents(amount))


def recovered(counters: WindowCounters, at: float, amount: float) -> None:
    """A failed recurring gift recovered at ``at`` (event time) with ``amount``."""
    for granularity in GRANULARITIES:
        window = window_of(granularity, at)
        add(counters, window, "recovered|count", 1)
        add(counters, window, "recovered|cents", cents(amount))


def fell_below_floor(counters: WindowCounters, at: float, giving: float) -> None:
    """A person newly below the at-risk floor at ``at``, with what they gave in the last 12 months."""
    for granularity in GRANULARITIES:
        window = window_of(granularity, at)
        add(counters, window, "at_risk|count", 1)
        add(counters, window, "at_risk|giving_cents", cents(giving))
