"""Alert rules that need no memory beyond the event itself. Pure: no I/O.

An alert's id is derived from the evidence, so replaying the same events republishes the same alert
(an update of one alert, never a second one).
"""

from __future__ import annotations

import hashlib
from typing import Any

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
