"""Per-constituent alerts: failed transactions and score drops. Pure: no I/O.

An alert's id is derived from the evidence, so replaying the same events republishes the same alert
(an update of one alert, never a second one). Each update carries the whole alert; the latest wins.
"""

from __future__ import annotations

from typing import Any

from services.domain.alert_rules import FailedTransactionRules, derive_alert_id
from services.domain.scoring import ConstituentState, ScoringModel

Alert = dict[str, Any]

MAX_EVIDENCE = 20


def _amount(event: dict[str, Any]) -> float | None:
    amount = (event.get("attributes") or {}).get("amount")
    return float(amount) if isinstance(amount, int | float) and not isinstance(amount, bool) else None


def failed_transaction_alert(event: dict[str, Any], rules: FailedTransactionRules) -> Alert:
    """The alert a ``donation.failed`` event opens: critical for recurring or large gifts."""
    attributes = event.get("attributes") or {}
    amount = _amount(event)
    recurring = attributes.get("recurring") is True
    large = amount is not None and amount >= rules.critical_amount
    what = f"{'recurring ' if recurring else ''}donation"
    if amount is not None:
        what += f" of {amount:g} {attributes.get('currency', '')}".rstrip()
    reason = attributes.get("error_code") or "no reason given"
    department = event.get("department")
    return {
        "alert_id": derive_alert_id("transaction", event["source"], event["event_id"]),
        "kind": "transaction.failed",
        "severity": "critical" if recurring or large else "warning",
        "status": "open",
        "constituent_id": event["constituent_id"],
        "source": event["source"],
        "departments": [department] if department else [],
        "title": f"Failed {what}",
        "detail": f"A {what} by {event['constituent_id']} failed ({reason}).",
        "evidence": [event["event_id"]],
        "rule": "failed-transaction",
        "opened_at": event["occurred_at"],
        "resolved_at": None,
    }


def on_transaction(
    state: ConstituentState,
    event: dict[str, Any],
    event_time: float,
    rules: FailedTransactionRules,
    may_open: bool,
) -> Alert | None:
    """Failed payments: open one alert, escalate it (once) on repeated failures, resolve it on success.

    Further failures while an alert is open only add evidence, so one person's card declined fifty times
    is still one alert. ``may_open`` is False during a storm: the failure is counted, not alerted.
    """
    current = state.failed_transaction
    if event["type"] == "donation.failed":
        if current is None:
            if not may_open:
                return None
            alert = failed_transaction_alert(event, rules)
            state.failed_transaction = {"alert": alert, "failures": [[event_time, event["event_id"]]]}
            return alert
        failures = sorted([*current["failures"], [event_time, event["event_id"]]])[-MAX_EVIDENCE:]
        current["failures"] = failures
        window = rules.escalate_within_minutes * 60
        recent = [f for f in failures if event_time - window <= f[0] <= event_time]
        alert = current["alert"]
        if len(recent) < rules.escalate_after or alert.get("escalated"):
            return None
        current["alert"] = alert = {
            **alert,
            "severity": "critical",
            "escalated": True,
            "title": f"{len(recent)} failed donations within {rules.escalate_within_minutes:g} min",
            "detail": f"{state.constituent_id} failed to give {len(recent)} times within "
            f"{rules.escalate_within_minutes:g} min; the latest failure was at {event['occurred_at']}.",
            "evidence": [event_id for _, event_id in failures],
        }
        return alert
    if (
        event["type"] == "donation.succeeded"
        and current is not None
        and event_time >= current["failures"][0][0]
    ):
        state.failed_transaction = None
        return {
            **current["alert"],
            "status": "resolved",
            "resolved_at": event["occurred_at"],
            "detail": current["alert"]["detail"] + " Resolved: a later donation succeeded.",
            "evidence": [event_id for _, event_id in current["failures"]] + [event["event_id"]],
        }
    return None


def note_score(state: ConstituentState, at: float, overall: float, model: ScoringModel) -> None:
    """Remember the highest overall score per hour, for as long as a drop is measured against it."""
    hour = int(at // 3600)
    key = str(hour)
    state.score_peaks[key] = max(state.score_peaks.get(key, overall), overall)
    oldest_kept = hour - model.score_alert.drop_window_hours
    for stale in [h for h in state.score_peaks if int(h) <= oldest_kept]:
        del state.score_peaks[stale]


def score_alert_update(
    state: ConstituentState, overall: float, model: ScoringModel, latest: dict[str, Any]
) -> Alert | None:
    """Open ``score.dropped`` when the score crosses into a drop or below the floor; resolve it on the
    way back. Once per crossing: nothing while the condition merely persists."""
    rule = model.score_alert
    peak = max(state.score_peaks.values(), default=overall)
    dropped_by = peak - overall
    breached = dropped_by >= rule.drop_points or overall < rule.floor
    if breached == (state.score_alert_opened_at is not None):
        return None
    opened_at = state.score_alert_opened_at
    if breached:
        state.score_alerts_opened += 1
        opened_at = state.score_alert_opened_at = latest["occurred_at"]
    else:
        state.score_alert_opened_at = None
    constituent_id = state.constituent_id
    reason = (
        f"fell {dropped_by:.1f} points from {peak:.1f} within {rule.drop_window_hours} h"
        if dropped_by >= rule.drop_points
        else f"is below the floor of {rule.floor:g}"
    )
    return {
        "alert_id": derive_alert_id("score", constituent_id, str(state.score_alerts_opened)),
        "kind": "score.dropped",
        "severity": "warning",
        "status": "open" if breached else "resolved",
        "constituent_id": constituent_id,
        "source": latest["source"],
        "departments": [latest["department"]] if latest.get("department") else [],
        "title": f"Experience score of {constituent_id} dropped to {overall:.1f}",
        "detail": f"The overall experience score {reason}; latest event {latest['type']}.",
        "evidence": [latest["event_id"]],
        "rule": "score-dropped",
        "opened_at": opened_at,
        "resolved_at": None if breached else latest["occurred_at"],
    }
