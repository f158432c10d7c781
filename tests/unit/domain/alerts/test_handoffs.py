"""Hand-offs between departments: kept in time, broken by a deadline or a bounce, resolved late."""

from __future__ import annotations

from typing import Any

from tests.fixtures.alerting import MINUTE, Worker, at, event, summary


def gift(n: int, when: float) -> dict[str, Any]:
    return event(f"gift{n}", "donation.succeeded", when, correlation_id=f"pay{n}", amount=20)


def receipt(n: int, when: float, event_type: str = "email.sent") -> dict[str, Any]:
    return event(f"{event_type}{n}", event_type, when, correlation_id=f"pay{n}", template="receipt")


def test_a_follow_up_in_time_keeps_the_hand_off() -> None:
    worker = Worker()
    worker.feed([gift(1, 0), receipt(1, 5 * MINUTE)], now=301)
    assert worker.feed([], now=3 * 3600, due=["c-1"]) == []


def test_a_passed_deadline_breaks_the_hand_off_and_a_late_follow_up_resolves_it_as_late() -> None:
    worker = Worker()
    worker.feed([gift(1, 0)], now=1)
    assert worker.feed([], now=10 * MINUTE, due=["c-1"]) == []  # 15 min not passed yet
    broken = worker.feed([], now=17 * MINUTE, due=["c-1"])  # deadline + lateness passed, stream quiet
    assert summary(broken) == [("handoff.broken", "warning", "open")]
    assert broken[0]["departments"] == ["fundraising", "marketing"]
    assert broken[0]["opened_at"] == at(15 * MINUTE)
    late = worker.feed([receipt(1, 40 * MINUTE)], now=40 * MINUTE)
    assert summary(late) == [("handoff.broken", "warning", "resolved")]
    assert late[0]["alert_id"] == broken[0]["alert_id"]
    assert "late" in late[0]["detail"]


def test_the_receipt_must_carry_the_payments_correlation_id() -> None:
    worker = Worker()
    worker.feed([gift(1, 0), receipt(2, 1 * MINUTE)], now=61)
    assert summary(worker.feed([], now=17 * MINUTE, due=["c-1"])) == [("handoff.broken", "warning", "open")]


def test_a_bounced_follow_up_counts_as_broken_at_once() -> None:
    worker = Worker()
    alerts = worker.feed([gift(1, 0), receipt(1, 60), receipt(1, 90, "email.bounced")], now=91)
    assert summary(alerts) == [("handoff.broken", "warning", "open")]
    assert "bounced" in alerts[0]["detail"]


def test_a_follow_up_that_arrives_before_its_trigger_still_counts() -> None:
    worker = Worker()
    worker.feed([receipt(1, 60)], now=61)
    worker.feed([gift(1, 0)], now=62)
    assert worker.feed([], now=3 * 3600, due=["c-1"]) == []


def test_deadlines_follow_event_time_while_a_stream_is_busy() -> None:
    """Replaying last week: the wall clock is far ahead, yet only deadlines event time passed fire."""
    worker = Worker()
    week_later = 7 * 86400.0
    worker.feed([gift(1, 0)], now=week_later)
    assert worker.feed([receipt(1, 10 * MINUTE)], now=week_later + 1, due=["c-1"]) == []


def test_replaying_a_recorded_stream_gives_the_same_alerts() -> None:
    stream = [
        gift(1, 0),
        event("f1", "donation.failed", 60),
        receipt(1, 20 * MINUTE),
        event("reg", "event.registered", 30 * MINUTE),
        event("f2", "donation.failed", 31 * MINUTE),
        event("f3", "donation.failed", 32 * MINUTE),
        event("s", "donation.succeeded", 3 * 3600),
        event("late", "web.page_view", 4 * 3600),
    ]

    def replay(batch_size: int) -> list[dict[str, Any]]:
        worker = Worker()
        for start in range(0, len(stream), batch_size):
            worker.feed(stream[start : start + batch_size], now=10 * 86400.0 + start)
        return worker.published

    once, again = replay(batch_size=1), replay(batch_size=3)
    assert once == again
    assert [(a["rule"], a["status"], a["evidence"][-1]) for a in once] == [
        ("failed-transaction", "open", "f1"),
        ("handoff:donation-receipt", "open", "gift1"),  # 20 min > 15 min: broken first ...
        ("handoff:donation-receipt", "resolved", "email.sent1"),  # ... then resolved as late
        ("failed-transaction", "open", "f3"),  # escalated
        ("handoff:payment-recovery", "open", "f1"),
        ("handoff:event-confirmation", "open", "reg"),
        ("handoff:payment-recovery", "open", "f2"),
        ("handoff:payment-recovery", "open", "f3"),
        ("failed-transaction", "resolved", "s"),
        ("handoff:donation-receipt", "open", "s"),  # no receipt for the final gift either
    ]


def test_a_follow_up_dated_in_time_but_delivered_after_the_deadline_resolves_as_a_delayed_delivery() -> None:
    worker = Worker()
    worker.feed([gift(1, 0)], now=1)
    broken = worker.feed([], now=17 * MINUTE, due=["c-1"])  # the provider held the receipt back
    resolved = worker.feed([receipt(1, 5 * MINUTE)], now=20 * MINUTE)
    assert summary(resolved) == [("handoff.broken", "warning", "resolved")]
    assert resolved[0]["alert_id"] == broken[0]["alert_id"]
    assert (
        "delayed delivery" in resolved[0]["detail"] and " -" not in resolved[0]["detail"]
    )  # never "-10 min late"
