"""Recurring-gift recovery: a failed instalment opens a case that follows the dunning path to recovered
or lost; it alerts once when it stalls, and the same events give the same case in any order."""

from __future__ import annotations

import random
from typing import Any

from services.domain.alerts.recovery import step_of
from tests.fixtures.alerting import MINUTE, Worker, event

DAY = 86_400.0


def failed(n: int, when: float, **extra: Any) -> dict[str, Any]:
    return event(f"fail{n}", "donation.failed", when, amount=25, currency="USD", recurring=True,
                 subscription="sub_9", attempt=n, **extra)  # fmt: skip


def email(kind: str, when: float) -> dict[str, Any]:
    return event(f"{kind}-{when}", f"email.{kind}", when, template="payment_recovery")


def card_updated(when: float) -> dict[str, Any]:
    return event(f"pm-{when}", "donation.payment_method_updated", when)


def paid(when: float, amount: float = 25) -> dict[str, Any]:
    return event(
        f"paid-{when}", "donation.succeeded", when, amount=amount, recurring=True, subscription="sub_9"
    )


def recovery_alerts(alerts: list[Any]) -> list[tuple[str, str]]:
    return [(a["status"], a["title"].split(": ", 1)[1]) for a in alerts if a["kind"] == "recurring.recovery"]


def case_of(worker: Worker) -> dict[str, Any]:
    [case] = worker.table["c-1"]["recovery"]
    return case  # type: ignore[no-any-return]


def test_failure_email_card_update_and_payment_recover_the_case_with_its_amount() -> None:
    worker = Worker()
    steps = []
    for happening in (
        failed(1, 0),
        email("sent", 60),
        email("delivered", 61),
        card_updated(DAY),
        paid(DAY + 60),
    ):
        worker.feed([happening], now=happening_time(happening) + 1)
        steps.append(step_of(case_of(worker)))
    assert steps == ["failed", "email_sent", "email_delivered", "method_updated", "recovered"]
    assert case_of(worker)["recovered_amount"] == 25 and recovery_alerts(worker.published) == []


def happening_time(one: dict[str, Any]) -> float:
    from datetime import datetime

    from tests.fixtures.alerting import T0

    return datetime.fromisoformat(one["occurred_at"]).timestamp() - T0


def test_a_bounced_recovery_email_stalls_the_case_at_once_and_a_later_payment_resolves_it() -> None:
    worker = Worker()
    worker.feed([failed(1, 0), email("sent", 60)], now=61)
    [opened] = worker.feed([email("bounced", 62)], now=63)
    assert (opened["kind"], opened["status"], opened["owner"]) == (
        "recurring.recovery",
        "open",
        "fundraising",
    )
    assert "the recovery email bounced" in opened["title"]
    resolved = [a for a in worker.feed([paid(3 * DAY)], now=3 * DAY + 1) if a["kind"] == "recurring.recovery"]
    assert [(a["alert_id"], a["status"]) for a in resolved] == [(opened["alert_id"], "resolved")]
    assert "Recovered: 25 USD" in resolved[0]["detail"]


def test_no_card_update_within_a_week_of_the_email_stalls_and_a_cancellation_loses_the_case() -> None:
    worker = Worker()
    worker.feed([failed(1, 0), email("sent", 60), email("delivered", 61)], now=62)
    assert recovery_alerts(worker.feed([], now=6 * DAY, due=["c-1"])) == []
    stalled = recovery_alerts(worker.feed([], now=8 * DAY, due=["c-1"]))
    assert stalled == [("open", "no payment method update within 7 days of the recovery email")]
    cancelled = event("cx", "donation.recurring_cancelled", 9 * DAY, recurring=True, subscription="sub_9")
    lost = [a for a in worker.feed([cancelled], now=9 * DAY + 1) if a["kind"] == "recurring.recovery"]
    assert lost[0]["status"] == "resolved" and "Lost: the subscription was cancelled" in lost[0]["detail"]
    assert (case_of(worker)["outcome"], case_of(worker)["lost_reason"]) == ("lost", "cancelled")


def test_a_case_with_nothing_after_the_failure_stalls_for_want_of_an_email_then_is_lost_by_its_deadline() -> (
    None
):
    worker = Worker()
    worker.feed([failed(1, 0)], now=1)
    assert recovery_alerts(worker.feed([], now=DAY + 2 * MINUTE, due=["c-1"])) == [
        ("open", "no recovery email within 24 h")
    ]
    [(status, _)] = recovery_alerts(worker.feed([], now=22 * DAY, due=["c-1"]))
    assert status == "resolved" and case_of(worker)["lost_reason"] == "deadline"


def test_repeated_failures_of_one_subscription_are_one_case_counting_attempts() -> None:
    worker = Worker()
    worker.feed([failed(1, 0), failed(2, 3 * DAY), failed(3, 5 * DAY)], now=5 * DAY + 1)
    assert (
        case_of(worker)["attempts"] == 3
        and case_of(worker)["opened_at"] == worker.table["c-1"]["recovery"][0]["opened_at"]
    )


def test_the_same_events_give_the_same_case_in_any_order_as_a_replay_must() -> None:
    events = [failed(1, 0), email("sent", 60), email("delivered", 61), card_updated(DAY), paid(DAY + 60)]
    cases = []
    for seed in range(40):
        shuffled = list(events)
        random.Random(seed).shuffle(shuffled)
        worker = Worker()
        worker.feed(shuffled, now=DAY + 61)
        case = {k: v for k, v in case_of(worker).items() if k != "evidence"}
        cases.append((case, sorted(case_of(worker)["evidence"])))
    assert all(c == cases[0] for c in cases)
    assert cases[0][0]["outcome"] == "recovered"
