"""Failed transactions: one alert per failing payment, escalated once, resolved by a success."""

from __future__ import annotations

from tests.fixtures.alerting import MINUTE, T0, Worker, event, summary
from tests.fixtures.config import RULES


def test_a_failed_donation_opens_an_alert_and_a_later_success_resolves_it() -> None:
    worker = Worker()
    opened = worker.feed([event("f1", "donation.failed", 0, amount=40)], now=1)
    assert summary(opened) == [("transaction.failed", "warning", "open")]
    resolved = worker.feed([event("s1", "donation.succeeded", 120, amount=40)], now=121)
    assert summary(resolved) == [("transaction.failed", "warning", "resolved")]
    assert resolved[0]["alert_id"] == opened[0]["alert_id"]
    assert resolved[0]["evidence"] == ["f1", "s1"]


def test_three_failures_within_an_hour_escalate_one_alert_instead_of_opening_three() -> None:
    worker = Worker()
    worker.feed([event("f1", "donation.failed", 0)], now=1)
    assert worker.feed([event("f2", "donation.failed", 10 * MINUTE)], now=601) == []
    escalated = worker.feed([event("f3", "donation.failed", 20 * MINUTE)], now=1201)
    assert summary(escalated) == [("transaction.failed", "critical", "open")]
    assert escalated[0]["evidence"] == ["f1", "f2", "f3"]
    assert worker.feed([event("f4", "donation.failed", 21 * MINUTE)], now=1261) == []
    assert len({a["alert_id"] for a in worker.published}) == 1


def test_recurring_or_large_failed_gifts_are_critical_at_once() -> None:
    assert (
        summary(Worker().feed([event("f1", "donation.failed", 0, recurring=True)], now=1))[0][1] == "critical"
    )
    assert summary(Worker().feed([event("f1", "donation.failed", 0, amount=900)], now=1))[0][1] == "critical"


def test_a_storm_opens_a_bounded_number_of_constituent_alerts() -> None:
    worker = Worker()
    minute_start = 60 - T0 % 60
    storm = [
        event(f"f{n}", "donation.failed", minute_start + n * 0.005, constituent=f"c-{n}", processor="stripe")
        for n in range(10_000)
    ]
    budget = RULES.storm.max_constituent_alerts_per_partition_minute
    alerts = worker.feed(storm, now=120)
    assert summary(alerts) == [("transaction.failed", "warning", "open")] * budget
    assert worker.suppressed == 10_000 - budget
    # an hour later all 10,000 payment-recovery hand-offs break: again only a bounded number is announced
    broken = worker.feed([], now=2 * 3600, due=[f"c-{n}" for n in range(10_000)])
    assert len(broken) == budget
