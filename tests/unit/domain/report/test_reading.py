"""The report read off its counters: the hand-off matrix for a scripted set of hand-offs (and the same
whatever order the events came in), the experience rows, drivers, failed gifts and value at risk."""

from __future__ import annotations

import random
from typing import Any

from services.domain.report.reading import (
    drivers,
    experience_rows,
    gifts,
    handoff_matrix,
    total,
    value_at_risk,
)
from tests.fixtures.alerting import MINUTE, Worker, event


def gift(n: int, when: float, who: str) -> dict[str, Any]:
    return event(f"gift{n}", "donation.succeeded", when, who, correlation_id=f"pay{n}", amount=20)


def receipt(n: int, when: float, who: str, kind: str = "email.sent") -> dict[str, Any]:
    return event(f"{kind}{n}", kind, when, who, correlation_id=f"pay{n}", template="receipt")


SCRIPT = [
    gift(1, 0, "a"), receipt(1, 5 * MINUTE, "a"),  # in time, 5 min
    gift(2, 0, "b"), receipt(2, 40 * MINUTE, "b"),  # late, 40 min
    gift(3, 0, "c"),  # broken: nothing ever came
    gift(4, 0, "d"), receipt(4, 2 * MINUTE, "d"), receipt(4, 3 * MINUTE, "d", "email.bounced"),  # bounced
    event("reg5", "event.registered", 0, "e"),
    event("conf5", "email.sent", 10 * MINUTE, "e", template="event_confirmation"),
]  # fmt: skip


def matrix_after(events: list[dict[str, Any]], one_by_one: bool = False) -> list[dict[str, Any]]:
    worker = Worker()
    for batch in [[e] for e in events] if one_by_one else [events]:
        worker.feed(batch, now=41 * MINUTE)
    worker.feed([], now=3 * 3600, due=["a", "b", "c", "d", "e"])
    return handoff_matrix(total(c for w, c in worker.report.items() if w.startswith("d:")))


def test_the_matrix_counts_each_hand_off_once_by_how_it_ended() -> None:
    rows = {(r["rule"], r["from"], r["to"]): r for r in matrix_after(SCRIPT)}
    receipts = rows[("donation-receipt", "fundraising", "marketing")]
    assert {k: receipts[k] for k in ("triggered", "in_time", "late", "broken", "pending")} == {
        "triggered": 4, "in_time": 1, "late": 1, "broken": 2, "pending": 0,
    }  # fmt: skip
    assert receipts["broken_share"] == 0.5
    assert (receipts["p50_s"], receipts["p90_s"]) == (300.0, 3600.0)  # 5 min, 40 min: the buckets' bounds
    confirmations = rows[("event-confirmation", "events", "marketing")]
    assert (confirmations["triggered"], confirmations["in_time"]) == (1, 1)


def test_the_matrix_is_the_same_whatever_order_the_events_arrive_in() -> None:
    expected = matrix_after(SCRIPT)
    for seed in range(40):
        shuffled = list(SCRIPT)
        random.Random(seed).shuffle(shuffled)
        assert matrix_after(shuffled) == expected
        assert matrix_after(shuffled, one_by_one=True) == expected


def test_experience_rows_drivers_gifts_and_value_at_risk_read_off_the_counters() -> None:
    worker = Worker()
    worker.feed(
        [
            event("f1", "donation.failed", 0, "a", amount=50, processor="stripe", error_code="card_declined"),
            event(
                "f2", "donation.failed", 60, "b", amount=25.5, processor="stripe", error_code="card_declined"
            ),
            event("v1", "web.page_view", 120, "b"),
            event("s1", "web.form_submitted", 130, "c", form="volunteer_signup"),
        ],
        now=200,
    )
    hours = {w: c for w, c in worker.report.items() if w.startswith("h:")}
    [row] = experience_rows(hours)
    assert row["people"] == 3 and sum(row["histogram"]) == 3
    assert row["mean"]["operations"] < 50 < row["mean"]["content"] + 1  # failures hurt operations
    [volunteers] = experience_rows(hours, by="role")
    assert (volunteers["role"], volunteers["people"]) == ("volunteer", 1)
    assert {r["source"] for r in experience_rows(hours, by="source")} == {"donation", "web"}
    counted = total(hours.values())
    assert drivers(counted)["negative"][0] == {"type": "donation.failed", "points": -20.0, "events": 2}
    assert gifts(counted)["failed"] == [
        {"count": 2, "amount": 75.5, "processor": "stripe", "error_code": "card_declined"}
    ]
    assert value_at_risk(counted) == {"people": 0, "giving_12_months": 0.0}
