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

from collections.abc import Iterable
from typing import Any

from services.domain.report.counters import (
    GRANULARITIES,
    HORIZON_S,
    WindowCounters,
    add,
    cents,
    granularity_of,
    window_bounds,
    window_of,
)
from services.domain.scoring import DIMENSIONS, OTHER, ConstituentState, ScoringModel, scores_from_totals

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


def _milli(model: ScoringModel, event_type: str) -> Points | None:
    impact = model.impacts.get(event_type)
    return None if impact is None else [round(points * 1000) for points in impact.as_tuple()]


def window_scores(model: ScoringModel, points: Points) -> tuple[int, int, int, int]:
    """Overall, content, operations, principles in hundredths, from a window's points."""
    scores = scores_from_totals(model, [value / 1000 for value in points])
    return (
        round(scores.overall * 100),
        round(scores.content * 100),
        round(scores.operations * 100),
        round(scores.principles * 100),
    )


def _person(counters: WindowCounters, window: str, group: str, scores: tuple[int, ...], sign: int) -> None:
    add(counters, window, f"people|{group}", sign)
    for name, value in zip(("overall", *DIMENSIONS), scores, strict=True):
        add(counters, window, f"sum|{group}|{name}", sign * value)
    add(counters, window, f"hist|{group}|{min(BINS - 1, scores[0] // (10_000 // BINS))}", sign)


def _groups_in(state: ConstituentState, window: str) -> list[str]:
    """The role groups the person belongs to in ``window``: roles granted before its end."""
    _, end = window_bounds(window)
    return [f"role:{role}" for role, since in sorted(state.role_since.items()) if since < end]


def on_event(
    state: ConstituentState,
    event: dict[str, Any],
    event_time: float,
    model: ScoringModel,
    counters: WindowCounters,
) -> None:
    """Fold one scored (not duplicate) event into the person's windows and the batch's counters."""
    event_type = event["type"]
    points = _milli(model, event_type)
    for rule in model.roles_by_type.get(event_type, ()):
        if rule.matches(event):
            _grant(state, rule.role, event_time, model, counters)
    newest = max(state.last_event_at, event_time)
    for granularity in GRANULARITIES:
        window = window_of(granularity, event_time)
        if window_bounds(window)[1] + HORIZON_S[granularity] <= newest:
            continue  # a window this person closed already: drivers and gifts count it, scores do not
        if points is not None:
            source = event["source"] if event["source"] in model.sources else OTHER
            _move(state, counters, window, ALL, points, [ALL, *_groups_in(state, window)], model)
            _move(state, counters, window, f"source:{source}", points, [f"source:{source}"], model)
    _forget_closed(state, newest)
    for granularity in GRANULARITIES:
        window = window_of(granularity, event_time)
        if points is not None:
            weighted = sum(w * p for w, p in zip(_weights(model), points, strict=True))
            add(counters, window, f"driver|{event_type}|points", round(weighted))
            add(counters, window, f"driver|{event_type}|events", 1)
        if event_type == "donation.failed":
            _failed_gift(counters, window, event)


def _weights(model: ScoringModel) -> tuple[float, float, float]:
    return (model.weights.content, model.weights.operations, model.weights.principles)


def _move(
    state: ConstituentState,
    counters: WindowCounters,
    window: str,
    part: str,
    points: Points,
    groups: Iterable[str],
    model: ScoringModel,
) -> None:
    """Add ``points`` to the person's ``part`` of ``window``: their old window score leaves ``groups``,
    the new one joins them."""
    parts = state.report_windows.setdefault(window, {})
    old = parts.get(part)
    new = [a + b for a, b in zip(old or [0, 0, 0], points, strict=True)]
    parts[part] = new
    for group in groups:
        if old is not None:
            _person(counters, window, group, window_scores(model, old), -1)
        _person(counters, window, group, window_scores(model, new), +1)


def _grant(
    state: ConstituentState, role: str, at: float, model: ScoringModel, counters: WindowCounters
) -> None:
    """Role ``role`` held from ``at`` (or earlier, as known): join its group in the windows that now
    count it."""
    before = state.role_since.get(role)
    if before is not None and before <= at:
        return
    state.role_since[role] = at
    for window, parts in state.report_windows.items():
        _, end = window_bounds(window)
        if ALL in parts and at < end and (before is None or before >= end):
            _person(counters, window, f"role:{role}", window_scores(model, parts[ALL]), +1)


def _forget_closed(state: ConstituentState, newest: float) -> None:
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
