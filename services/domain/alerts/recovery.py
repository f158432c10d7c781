"""Recurring-gift recovery: a failed instalment opens a case that follows the dunning path. Pure.

failed → recovery email sent → delivered (or bounced) → payment method updated → the next payment
succeeded (**recovered**, with its amount) — or the subscription was cancelled, or ``lost_after_days``
passed (**lost**). A case keeps its *facts* (when each step was seen, by event time) and its step is a
function of them (``step_of``), so the same events give the same case whatever order they arrive in.

It stalls — one ``recurring.recovery`` alert, owned by ``[recovery].owner`` — when the recovery email
bounced, when no recovery email was sent within ``email_within_hours``, or when no payment method update
came within ``update_within_days`` of the email; the alert resolves when the case is recovered or lost.
Deadlines are judged against the partition's watermark, like hand-offs (domain/alerts/handoffs.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from services.domain.alerts.model import Alert, Status, derive_alert_id, new_alert
from services.domain.alerts.rules import RecoveryRules

Case = dict[str, Any]
Step = Literal[
    "failed", "email_sent", "email_delivered", "email_bounced", "method_updated", "recovered", "lost"
]
OPEN_STEPS: tuple[Step, ...] = ("failed", "email_sent", "email_delivered", "email_bounced", "method_updated")
MAX_CASES = 5  # per constituent; the oldest closed ones go first
MAX_EARLY = 10  # steps remembered before their failure arrived ...
EARLY_KEPT_S = 2 * 86400.0  # ... for at most this long after the newest of them
CLOSED_KEPT_FOR_S = 30 * 86400.0  # a closed case is remembered this long, so late events do not reopen it
DAY, HOUR = 86400.0, 3600.0


@dataclass(slots=True)
class Closed:
    """A case that ended in this update, for the metrics."""

    outcome: Literal["recovered", "lost"]
    amount: float
    seconds: float  # from the failure to the outcome
    at: float  # event time of the outcome


@dataclass(slots=True)
class RecoveryUpdate:
    alerts: list[Alert] = field(default_factory=list)
    opened: int = 0
    closed: list[Closed] = field(default_factory=list)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _attributes(event: dict[str, Any]) -> dict[str, Any]:
    attributes = event.get("attributes")
    return attributes if isinstance(attributes, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def step_of(case: Case) -> Step:
    facts = case["facts"]
    if case.get("outcome"):
        return case["outcome"]  # type: ignore[no-any-return]
    if "method_updated_at" in facts:
        return "method_updated"
    if "bounced_at" in facts and facts["bounced_at"] >= facts.get("delivered_at", float("-inf")):
        return "email_bounced"
    if "delivered_at" in facts:
        return "email_delivered"
    if "email_sent_at" in facts:
        return "email_sent"
    return "failed"


def _is_recovery_email(event: dict[str, Any], rules: RecoveryRules) -> bool:
    return _attributes(event).get("template") == rules.email_template


EVENT_TYPES = frozenset(
    {
        "donation.failed",
        "donation.succeeded",
        "donation.recurring_cancelled",
        "donation.payment_method_updated",
        "email.sent",
        "email.delivered",
        "email.bounced",
    }
)


def concerns(event: dict[str, Any], cases: list[Case], rules: RecoveryRules) -> bool:
    """Whether ``on_event`` could act on the event (cheap: most events are not): a recurring failure, or a
    step of the path (remembered even before its failure, for events out of order)."""
    kind = event["type"]
    if kind not in EVENT_TYPES:
        return False
    if kind == "donation.failed":
        return _attributes(event).get("recurring") is True
    return _is_step(event, rules)


def on_event(
    cases: list[Case],
    early: list[dict[str, Any]],
    constituent_id: str,
    event: dict[str, Any],
    event_time: float,
    rules: RecoveryRules,
) -> RecoveryUpdate:
    """Fold one event into the constituent's recovery cases; the alert updates and outcomes it causes.
    ``early``: steps seen with no case open for them yet (events out of order), applied to the case their
    failure opens when it comes."""
    update = RecoveryUpdate()
    attributes = _attributes(event)
    if event["type"] == "donation.failed" and attributes.get("recurring") is True:
        case = _open(cases, event, event_time, attributes, update)
        for fact in sorted((f for f in early if f["time"] >= case["opened_at"]), key=lambda f: f["time"]):
            if _apply(cases, fact["event"], fact["time"], rules, update, constituent_id):
                early.remove(fact)
    elif not _apply(cases, event, event_time, rules, update, constituent_id) and _is_step(event, rules):
        wanted = ("template", "recurring", "subscription", "amount", "currency")
        kept = {
            "event_id": event["event_id"],
            "type": event["type"],
            "attributes": {name: attributes[name] for name in wanted if name in attributes},
        }
        early.append({"event": kept, "time": event_time})
        # a step stays waiting for its failure a while (events arrive out of order by minutes, not weeks)
        newest = max(f["time"] for f in early)
        early[:] = [f for f in early if f["time"] > newest - EARLY_KEPT_S][-MAX_EARLY:]
    for case in cases:
        if not case.get("outcome") and step_of(case) == "email_bounced" and not case.get("alerted"):
            update.alerts.append(
                _stalled(case, constituent_id, event_time, rules, "the recovery email bounced")
            )
    _forget(cases)
    _schedule(cases, rules)
    return update


def _subscription(attributes: dict[str, Any]) -> str | None:
    subscription = attributes.get("subscription")
    return subscription if isinstance(subscription, str) else None


def _open(
    cases: list[Case],
    event: dict[str, Any],
    event_time: float,
    attributes: dict[str, Any],
    update: RecoveryUpdate,
) -> Case:
    """The open case of this failure's subscription (a new one if none), with the failure counted."""
    subscription = _subscription(attributes)
    case = next((c for c in _open_cases(cases, subscription)), None)
    if case is None:
        case = {
            "case_id": derive_alert_id("case", subscription or event["event_id"])[5:],
            "subscription": subscription,
            "opened_at": event_time,
            "amount": _number(attributes.get("amount")) or 0.0,
            "currency": attributes.get("currency") or "",
            "attempts": 0,
            "facts": {},
            "evidence": [],
        }
        cases.append(case)
        update.opened += 1
    case["opened_at"] = min(case["opened_at"], event_time)
    attempt = _number(attributes.get("attempt"))
    case["attempts"] = max(case["attempts"] + 1, int(attempt or 0))
    _evidence(case, event)
    return case


def _open_cases(cases: list[Case], subscription: str | None) -> list[Case]:
    return [
        c
        for c in cases
        if not c.get("outcome") and (subscription is None or c["subscription"] in (None, subscription))
    ]


EMAIL_FACTS = {
    "email.sent": "email_sent_at",
    "email.delivered": "delivered_at",
    "email.bounced": "bounced_at",
}


def _is_step(event: dict[str, Any], rules: RecoveryRules) -> bool:
    """A step of the dunning path (not a failure): what may come before its case, out of order."""
    kind, attributes = event["type"], _attributes(event)
    return (
        (kind in EMAIL_FACTS and _is_recovery_email(event, rules))
        or kind in ("donation.payment_method_updated", "donation.recurring_cancelled")
        or (kind == "donation.succeeded" and attributes.get("recurring") is True)
    )


def _apply(
    cases: list[Case],
    event: dict[str, Any],
    event_time: float,
    rules: RecoveryRules,
    update: RecoveryUpdate,
    constituent_id: str,
) -> bool:
    """A step of the path applied to the open cases it concerns (those it comes after); True if any."""
    if not _is_step(event, rules):
        return False
    kind, attributes = event["type"], _attributes(event)
    if kind in EMAIL_FACTS or kind == "donation.payment_method_updated":
        # a step noted on every case it falls within, closed ones too (it arrived late): the same facts
        # whatever the order; a card update serves every subscription of the person
        subscription = None if kind == "donation.payment_method_updated" else _subscription(attributes)
        mine = [
            c
            for c in cases
            if c["opened_at"] <= event_time <= c.get("closed_at", event_time)
            and (subscription is None or c["subscription"] in (None, subscription))
        ]
    else:
        mine = [c for c in _open_cases(cases, _subscription(attributes)) if c["opened_at"] <= event_time]
    for case in mine:
        if kind in EMAIL_FACTS or kind == "donation.payment_method_updated":
            _note(case, EMAIL_FACTS.get(kind, "method_updated_at"), event_time, event)
        elif kind == "donation.succeeded":
            case["recovered_amount"] = _number(attributes.get("amount")) or case["amount"]
            _close(case, "recovered", event_time, event, rules, update, constituent_id)
        else:
            _close(case, "lost", event_time, event, rules, update, constituent_id, reason="cancelled")
    return bool(mine)


def _note(case: Case, fact: str, event_time: float, event: dict[str, Any]) -> None:
    facts = case["facts"]
    facts[fact] = max(facts.get(fact, event_time), event_time)
    _evidence(case, event)


def _evidence(case: Case, event: dict[str, Any]) -> None:
    if event["event_id"] not in case["evidence"]:
        case["evidence"] = [*case["evidence"], event["event_id"]][-10:]


def _close(
    case: Case,
    outcome: Literal["recovered", "lost"],
    at: float,
    event: dict[str, Any] | None,
    rules: RecoveryRules,
    update: RecoveryUpdate,
    constituent_id: str,
    reason: str = "",
) -> None:
    if case.get("outcome"):
        return
    case["outcome"], case["closed_at"] = outcome, at
    if reason:
        case["lost_reason"] = reason
    if event is not None:
        _evidence(case, event)
    amount = (
        float(case.get("recovered_amount") or case["amount"]) if outcome == "recovered" else case["amount"]
    )
    days = (at - case["opened_at"]) / DAY
    update.closed.append(Closed(outcome, amount, max(0.0, at - case["opened_at"]), at))
    if case.get("alerted"):
        if outcome == "recovered":
            how = f"Recovered: {amount:g} {case['currency']} received {days:.1f} days after the failure."
        else:
            why = "the subscription was cancelled" if reason == "cancelled" else "no recovery in time"
            how = f"Lost: {why}."
        update.alerts.append(_alert(case, constituent_id, rules, "resolved", how, at))
        case["alerted"] = False


def _stalled(case: Case, constituent_id: str, at: float, rules: RecoveryRules, why: str) -> Alert:
    case["alerted"], case["stalled_at"], case["stall"] = True, at, why
    return _alert(case, constituent_id, rules, "open", "", at)


def _alert(case: Case, constituent_id: str, rules: RecoveryRules, status: Status, outcome: str,
           at: float) -> Alert:  # fmt: skip
    amount = f"{case['amount']:g} {case['currency']}".rstrip()
    why = case.get("stall", "")
    detail = f"A failed recurring gift of {amount} ({case['attempts']} failed attempt(s)) stalled: {why}."
    return new_alert(
        alert_id=derive_alert_id("recovery", constituent_id, case["case_id"]),
        kind="recurring.recovery",
        severity=rules.severity,
        status=status,
        constituent_id=constituent_id,
        source="donation",
        departments=["fundraising", "marketing"],
        title=f"Recurring gift of {amount} not being recovered: {why}",
        detail=f"{detail} {outcome}".rstrip(),
        evidence=list(case["evidence"]),
        rule="recurring-recovery",
        opened_at=_iso(case.get("stalled_at", at)),
        resolved_at=_iso(at) if status == "resolved" else None,
    )


def expire(cases: list[Case], constituent_id: str, watermark: float, rules: RecoveryRules) -> RecoveryUpdate:
    """Stall or lose the open cases whose deadlines the watermark passed."""
    update = RecoveryUpdate()
    for case in cases:
        if case.get("outcome"):
            continue
        lost_at = case["opened_at"] + rules.lost_after_days * DAY
        if lost_at <= watermark:
            _close(case, "lost", lost_at, None, rules, update, constituent_id, reason="deadline")
            continue
        stall = _stall_due(case, rules)
        if stall is not None and stall[0] <= watermark and not case.get("alerted"):
            update.alerts.append(_stalled(case, constituent_id, stall[0], rules, stall[1]))
    _forget(cases, watermark)
    _schedule(cases, rules)
    return update


def _stall_due(case: Case, rules: RecoveryRules) -> tuple[float, str] | None:
    """When the case stalls at its step if nothing more happens, and why."""
    facts, step = case["facts"], step_of(case)
    if step == "failed":
        return case["opened_at"] + rules.email_within_hours * HOUR, (
            f"no recovery email within {rules.email_within_hours:g} h"
        )
    if step in ("email_sent", "email_delivered"):
        sent = facts.get("delivered_at", facts.get("email_sent_at"))
        return sent + rules.update_within_days * DAY, (
            f"no payment method update within {rules.update_within_days:g} days of the recovery email"
        )
    return None


def _schedule(cases: list[Case], rules: RecoveryRules) -> None:
    """Note on each open case when it next needs looking at (``due_at``): its stall or loss deadline."""
    for case in cases:
        if case.get("outcome"):
            case.pop("due_at", None)
            continue
        due = case["opened_at"] + rules.lost_after_days * DAY
        stall = _stall_due(case, rules)
        if stall is not None and not case.get("alerted"):
            due = min(due, stall[0])
        case["due_at"] = due


def next_deadline(cases: list[Case]) -> float | None:
    """When the constituent's open cases next need looking at."""
    return min((c["due_at"] for c in cases if "due_at" in c), default=None)


def _forget(cases: list[Case], watermark: float | None = None) -> None:
    """Closed cases go after CLOSED_KEPT_FOR_S, and the oldest closed first beyond MAX_CASES."""
    if watermark is not None:
        cases[:] = [
            c for c in cases if not c.get("outcome") or c["closed_at"] + CLOSED_KEPT_FOR_S > watermark
        ]
    while len(cases) > MAX_CASES:
        closed = [c for c in cases if c.get("outcome")]
        cases.remove(min(closed or cases, key=lambda c: c["opened_at"]))
