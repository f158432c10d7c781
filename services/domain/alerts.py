"""Alert rules that need no memory beyond the event itself. Pure: no I/O.

An alert's id is derived from the evidence, so replaying the same events republishes the same alert
(an update of one alert, never a second one).
"""

from __future__ import annotations

import hashlib
from typing import Any

from services.domain.scoring import ConstituentState, ScoringModel

Alert = dict[str, Any]

CRITICAL_AMOUNT = 500.0


def _alert_id(rule: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join((rule, *parts)).encode()).hexdigest()[:20]
    return f"{rule.split('.')[0]}-{digest}"


def failed_transaction_alert(event: dict[str, Any]) -> Alert:
    """The alert a ``donation.failed`` event opens: critical for recurring or large gifts."""
    attributes = event.get("attributes") or {}
    amount = attributes.get("amount")
    recurring = bool(attributes.get("recurring"))
    large = isinstance(amount, int | float) and amount >= CRITICAL_AMOUNT
    severity = "critical" if recurring or large else "warning"
    what = f"{'recurring ' if recurring else ''}donation"
    if isinstance(amount, int | float):
        what += f" of {amount:g} {attributes.get('currency', '')}".rstrip()
    reason = attributes.get("error_code") or "no reason given"
    department = event.get("department")
    return {
        "alert_id": _alert_id("transaction.failed", event["source"], event["event_id"]),
        "kind": "transaction.failed",
        "severity": severity,
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
        "alert_id": _alert_id("score.dropped", constituent_id, str(state.score_alerts_opened)),
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
