"""Every alert names the team that owns it; a priority constituent's alerts go one level up; an alert
nobody acknowledged in time escalates once, and the scorer's later updates keep it escalated."""

from __future__ import annotations

from typing import Any

from services.domain.alerts.actions import Action, act, merge
from services.domain.alerts.model import Alert
from services.domain.alerts.routing import Routing, due_for_escalation, escalated_unacknowledged
from services.domain.scoring import ConstituentState, apply_event, giving_12_months
from tests.fixtures.alerting import MINUTE, T0, Worker, event, summary
from tests.fixtures.config import MODEL, RULES

DAY = 86_400.0


def test_every_shipped_rule_names_an_owner_and_alerts_carry_it() -> None:
    routing = Routing(RULES)
    rules = ["failed-transaction", "score-dropped", "spike:donation/stripe", "spike:email"]
    rules += [f"handoff:{rule.name}" for rule in RULES.handoffs]
    for rule in rules:
        assert routing.route_of(rule) is not None, rule
    worker = Worker()
    [failed] = worker.feed([event("f1", "donation.failed", 0, amount=20)], now=1)
    assert (failed["owner"], failed["ack_within_minutes"]) == ("finance", 30)
    assert "priority" not in failed


def gifts(state: ConstituentState, amounts: list[tuple[float, float]]) -> None:
    for n, (days, amount) in enumerate(amounts):
        apply_event(
            state, event(f"g{n}", "donation.succeeded", days * DAY, amount=amount), T0 + days * DAY, MODEL
        )


def test_giving_counts_the_last_twelve_30_day_periods_whatever_the_order() -> None:
    amounts = [(0, 100.0), (200, 250.5), (400, 300.0), (401, 50.25)]
    forward, backward = ConstituentState("c-1"), ConstituentState("c-1")
    gifts(forward, amounts)
    gifts(backward, list(reversed(amounts)))
    assert giving_12_months(forward) == giving_12_months(backward) == 600.75  # day 0 is over a year before
    assert forward.giving == backward.giving


def test_a_major_donors_failed_gift_is_raised_one_level_and_marked_priority() -> None:
    worker = Worker()
    worker.feed([event("g1", "donation.succeeded", 0, amount=1200)], now=1)
    [failed] = worker.feed([event("f1", "donation.failed", MINUTE, amount=20)], now=MINUTE + 1)
    assert (failed["severity"], failed["priority"]) == ("critical", ["major-donor"])


def test_a_recurring_donor_is_a_priority_and_routing_an_update_twice_never_raises_it_twice() -> None:
    state = ConstituentState("c-1")
    apply_event(state, event("g1", "donation.succeeded", 0, amount=5, recurring=True), T0, MODEL)
    routing = Routing(RULES)
    alert: Alert = {**OPENED, "severity": "info"}  # type: ignore[typeddict-item]
    once = routing.route(alert, state)
    assert (once["severity"], once["priority"]) == ("warning", ["recurring-donor"])
    assert routing.route(alert, state)["severity"] == "warning" and alert["severity"] == "info"


OPENED: dict[str, Any] = {
    "alert_id": "handoff-1",
    "kind": "handoff.broken",
    "severity": "warning",
    "status": "open",
    "constituent_id": "c-1",
    "evidence": ["e1"],
    "rule": "handoff:event-confirmation",
    "opened_at": "2026-11-26T10:00:00+00:00",
    "resolved_at": None,
    "ack_within_minutes": 120,
}
OPENED_AT = 1_795_687_200.0  # 2026-11-26T10:00:00Z


def test_an_alert_unacknowledged_past_ack_within_is_due_once() -> None:
    alert: Alert = OPENED  # type: ignore[assignment]
    assert not due_for_escalation(alert, OPENED_AT + 119 * MINUTE)
    assert due_for_escalation(alert, OPENED_AT + 120 * MINUTE)
    escalated = merge(alert, escalated_unacknowledged(alert, "2026-11-26T12:00:00+00:00"))
    assert (escalated["severity"], escalated["escalated_unacknowledged"]) == ("critical", True)
    assert not due_for_escalation(escalated, OPENED_AT + 999 * MINUTE)
    again = merge(escalated, escalated_unacknowledged(escalated, "2026-11-26T12:01:00+00:00"))
    assert again == escalated  # once: another replica's escalation changes nothing


def test_an_acknowledged_or_resolved_alert_never_escalates() -> None:
    alert: Alert = OPENED  # type: ignore[assignment]
    acknowledged = merge(alert, act(alert, Action.ACKNOWLEDGE, "ops", "2026-11-26T10:05:00+00:00", None))
    assert not due_for_escalation(acknowledged, OPENED_AT + DAY)
    late = escalated_unacknowledged(alert, "2026-11-26T12:00:00+00:00")  # raced with the acknowledgement
    assert merge(acknowledged, late) == acknowledged
    assert not due_for_escalation({**alert, "status": "resolved"}, OPENED_AT + DAY)  # type: ignore[typeddict-item]
    assert not due_for_escalation({**alert, "ack_within_minutes": None} | {}, OPENED_AT + DAY)  # type: ignore[typeddict-item, arg-type]


def test_the_scorers_later_updates_keep_an_escalation_one_level_above_the_rule() -> None:
    alert: Alert = {**OPENED, "severity": "info"}  # type: ignore[typeddict-item]
    escalated = merge(alert, escalated_unacknowledged(alert, "2026-11-26T12:00:00+00:00"))
    assert escalated["severity"] == "warning"
    update: Alert = {**alert, "evidence": ["e1", "e2"]}  # type: ignore[typeddict-item]
    kept = merge(escalated, update)
    assert (kept["severity"], kept["evidence"], kept["escalated_at"]) == (
        "warning",
        ["e1", "e2"],
        escalated["escalated_at"],
    )


def instalment(n: int, day: float) -> dict[str, Any]:
    return event(f"inst{n}", "donation.succeeded", day * DAY, amount=10, recurring=True)


def recurring_alerts(alerts: list[Alert]) -> list[tuple[str, str, str]]:
    return summary([a for a in alerts if a["rule"] == "handoff:recurring-instalment"])


def test_a_monthly_gift_that_keeps_coming_owes_nothing_and_one_that_stops_is_seen() -> None:
    worker = Worker()
    for n in range(3):
        worker.feed([instalment(n, 30 * n)], now=30 * n * DAY + 1)
    assert recurring_alerts(worker.published) == []
    missed = worker.feed([], now=60 * DAY + 36 * DAY, due=["c-1"])
    assert recurring_alerts(missed) == [("handoff.broken", "critical", "open")]  # a recurring donor: up one
    [alert] = [a for a in missed if a["rule"] == "handoff:recurring-instalment"]
    assert (alert["owner"], alert["priority"], alert["evidence"]) == (
        "fundraising",
        ["recurring-donor"],
        ["inst2"],
    )


def test_instalments_out_of_order_keep_the_same_promises() -> None:
    worker = Worker()
    worker.feed([instalment(1, 30)], now=30 * DAY + 1)
    worker.feed([instalment(0, 0)], now=30 * DAY + 2)
    assert recurring_alerts(worker.feed([], now=64 * DAY, due=["c-1"])) == []  # the 30th's is owed at 65
    assert recurring_alerts(worker.feed([], now=66 * DAY, due=["c-1"])) == [
        ("handoff.broken", "critical", "open")
    ]


def test_a_cancelled_recurring_gift_owes_no_further_instalment() -> None:
    worker = Worker()
    worker.feed([instalment(0, 0), event("cx", "donation.recurring_cancelled", 10 * DAY)], now=10 * DAY + 1)
    assert recurring_alerts(worker.feed([], now=40 * DAY, due=["c-1"])) == []


def test_the_api_publishes_an_escalation_only_for_alerts_due() -> None:
    from services.api.escalation import Escalator
    from services.api.views import AlertView

    view = AlertView(100)
    view.apply(0, OPENED)  # type: ignore[arg-type]
    view.apply(1, {**OPENED, "alert_id": "handoff-2", "ack_within_minutes": 600})  # type: ignore[arg-type]
    escalator = Escalator(view, None, "alerts", lambda: True, 100, 1.0)  # type: ignore[arg-type]
    assert escalator.due(OPENED_AT + 60 * MINUTE) == []
    [record] = escalator.due(OPENED_AT + 121 * MINUTE)
    assert record.key == b"handoff-1"
