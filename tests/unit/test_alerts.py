"""Alert lifecycles: failed transactions, hand-offs with deadlines, spikes, storms, replays."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from services.domain.alert_rules import AlertRules
from services.domain.scoring import ConstituentState, ScoringModel
from services.domain.spikes import SpikeState, count_attempts
from services.domain.watermarks import Watermarks
from services.scorer.processing import BatchProcessor, Incoming

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "config"
MODEL = ScoringModel.from_toml((CONFIG / "scoring.toml").read_text())
RULES = AlertRules.from_toml((CONFIG / "alerts.toml").read_text())
T0 = 1_795_000_000.0
MINUTE = 60.0


def at(seconds: float) -> str:
    return datetime.fromtimestamp(T0 + seconds, UTC).isoformat()


def event(
    event_id: str,
    event_type: str,
    when: float,
    constituent: str = "c-1",
    correlation_id: str | None = None,
    **attributes: Any,
) -> dict[str, Any]:
    source = {"web": "web", "email": "email", "donation": "donation", "event": "events"}[
        event_type.split(".")[0]
    ]
    body = {
        "event_id": event_id,
        "source": source,
        "type": event_type,
        "occurred_at": at(when),
        "constituent_id": constituent,
        "attributes": attributes,
    }
    if correlation_id:
        body["correlation_id"] = correlation_id
    return body


class Worker:
    """A BatchProcessor with a dict for a table, fed one batch at a time."""

    def __init__(self) -> None:
        self.processor = BatchProcessor(MODEL, RULES)
        self.table: dict[str, dict[str, Any]] = {}
        self.published: list[dict[str, Any]] = []
        self.suppressed = 0

    def load(self, constituent_id: str, partition: int) -> ConstituentState | None:
        stored = self.table.get(constituent_id)
        return None if stored is None else ConstituentState.from_dict(orjson.loads(orjson.dumps(stored)))

    def feed(self, events: list[dict[str, Any]], now: float, due: list[str] = ()) -> list[dict[str, Any]]:  # type: ignore[assignment]
        records = [Incoming(0, e["constituent_id"].encode(), orjson.dumps(e)) for e in events]
        result = self.processor.process(records, self.load, T0 + now, [(0, c) for c in due])
        for constituent_id, state in result.changed.items():
            self.table[constituent_id] = state.to_dict()
        alerts = [alert for alert, _ in result.alerts if alert["kind"] != "score.dropped"]
        self.published += alerts
        self.suppressed += result.suppressed_alerts
        return alerts


def summary(alerts: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(a["kind"], a["severity"], a["status"]) for a in alerts]


# --- failed transactions -------------------------------------------------------------------------


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


# --- hand-offs ------------------------------------------------------------------------------------


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


# --- spikes ---------------------------------------------------------------------------------------


def donation_attempts(failed: int, succeeded: int, start: float) -> list[tuple[dict[str, Any], float]]:
    kinds = ["donation.failed"] * failed + ["donation.succeeded"] * succeeded
    return [
        (event(f"a{start}-{n}", kind, start + n, processor="stripe"), T0 + start + n)
        for n, kind in enumerate(kinds)
    ]


def fold(state: SpikeState, attempts: list[tuple[dict[str, Any], float]]) -> dict[str, Any] | None:
    rule = RULES.spikes[0]
    update = None
    for (_, key, bucket), partial in count_attempts(attempts, RULES.spikes).items():
        assert key == state.key
        state.add(bucket, partial.attempts, partial.failures, partial.evidence)
        update = state.evaluate(rule) or update
    return update


def test_a_failure_rate_over_the_threshold_opens_one_critical_alert_until_it_clears() -> None:
    state = SpikeState(key="donation/stripe", rule_index=0)
    assert fold(state, donation_attempts(failed=3, succeeded=20, start=0)) is None  # 13%
    opened = fold(state, donation_attempts(failed=10, succeeded=5, start=30))
    assert opened is not None and (opened["kind"], opened["severity"], opened["status"]) == (
        "failure.spike",
        "critical",
        "open",
    )
    assert opened["constituent_id"] is None
    assert fold(state, donation_attempts(failed=10, succeeded=0, start=60)) is None  # still open: no second
    resolved = fold(
        state, donation_attempts(failed=0, succeeded=60, start=400)
    )  # the bad minutes left the window
    assert resolved is not None and resolved["status"] == "resolved"
    assert resolved["alert_id"] == opened["alert_id"]


def test_too_few_attempts_never_spike() -> None:
    state = SpikeState(key="donation/stripe", rule_index=0)
    assert fold(state, donation_attempts(failed=10, succeeded=0, start=0)) is None


def test_a_spike_on_a_source_gone_quiet_clears_when_its_window_moves_on() -> None:
    state = SpikeState(key="donation/stripe", rule_index=0)
    fold(state, donation_attempts(failed=30, succeeded=0, start=0))
    state.advance(T0 + 10 * MINUTE)
    resolved = state.evaluate(RULES.spikes[0])
    assert resolved is not None and resolved["status"] == "resolved"


def test_events_that_name_a_processor_count_per_processor() -> None:
    mixed = [
        (event("a", "donation.failed", 0, processor="paypal"), T0),
        (event("b", "donation.failed", 0), T0),
    ]
    keys = {key for _, key, _ in count_attempts(mixed, RULES.spikes)}
    assert keys == {"donation/paypal", "donation"}


# --- watermarks -----------------------------------------------------------------------------------


def test_a_busy_partition_follows_event_time_and_a_quiet_one_the_wall_clock() -> None:
    marks = Watermarks(allowed_lateness=60, idle_seconds=5)
    marks.observe(0, event_time=1_000, now=50_000)
    assert marks.watermark(0, now=50_001) == 940
    assert marks.watermark(0, now=50_010) == 50_010 - 60
    assert marks.watermark(3, now=50_001) == 50_001 - 60  # never seen: nothing to wait for


def test_deadlines_can_be_compressed_for_a_demo() -> None:
    fast = RULES.with_deadlines_scaled(0.02)
    assert [rule.deadline_seconds for rule in fast.handoffs] == [
        rule.deadline_seconds * 0.02 for rule in RULES.handoffs
    ]
    assert RULES.with_deadlines_scaled(1) is RULES
