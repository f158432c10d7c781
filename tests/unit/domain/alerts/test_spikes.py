"""Failure spikes per source and processor over a sliding window."""

from __future__ import annotations

from typing import Any

from services.domain.alerts.spikes import SpikeState, count_attempts
from tests.fixtures.alerting import MINUTE, T0, event
from tests.fixtures.config import RULES


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
