"""Failed transactions: one alert per person's failing payment, escalated once, resolved by a success. Pure.

An alert's id is derived from the evidence, so replaying the same events republishes the same alert
(an update of one alert, never a second one).
"""

from __future__ import annotations

from typing import Any

from services.domain.alerts.model import Alert, derive_alert_id, new_alert, resolved
from services.domain.alerts.rules import FailedTransactionRules
from services.domain.scoring import ConstituentState

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
    return new_alert(
        alert_id=derive_alert_id("transaction", event["source"], event["event_id"]),
        kind="transaction.failed",
        severity="critical" if recurring or large else "warning",
        constituent_id=event["constituent_id"],
        source=event["source"],
        departments=[department] if department else [],
        title=f"Failed {what}",
        detail=f"A {what} by {event['constituent_id']} failed ({reason}).",
        evidence=[event["event_id"]],
        rule="failed-transaction",
        opened_at=event["occurred_at"],
    )


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
        opened: Alert = current["alert"]
        if len(recent) < rules.escalate_after or opened.get("escalated"):
            return None
        escalated: Alert = {
            **opened,
            "severity": "critical",
            "escalated": True,
            "title": f"{len(recent)} failed donations within {rules.escalate_within_minutes:g} min",
            "detail": f"{state.constituent_id} failed to give {len(recent)} times within "
            f"{rules.escalate_within_minutes:g} min; the latest failure was at {event['occurred_at']}.",
            "evidence": [event_id for _, event_id in failures],
        }
        current["alert"] = escalated
        return escalated
    if (
        event["type"] == "donation.succeeded"
        and current is not None
        and event_time >= current["failures"][0][0]
    ):
        state.failed_transaction = None
        last: Alert = current["alert"]
        return {
            **resolved(last, event["occurred_at"], "Resolved: a later donation succeeded."),
            "evidence": [event_id for _, event_id in current["failures"]] + [event["event_id"]],
        }
    return None
