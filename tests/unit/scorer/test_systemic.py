"""The spike-counts topic's records folded per key: source volumes, ingest's refusals and wall-clock
checks reach one source state, which raises source.silent and source.rejecting with their owner."""

from __future__ import annotations

from typing import Any

import orjson

from services.domain.alerts.routing import Routing
from services.scorer.systemic import Systemic
from tests.fixtures.config import RULES

T0 = 1_795_000_000.0 // 3600 * 3600
STRIPE = b"source:donation/stripe"


def folded(
    systemic: Systemic, key: bytes, messages: list[tuple[float, dict[str, Any]]]
) -> tuple[bytes | None, list[Any]]:
    stored: bytes | None = None
    alerts = []
    for now, message in messages:
        stored, raised = systemic.fold(key, message, stored, now)
        alerts += raised
    return stored, alerts


def letter(n: int, source: str = "stripe", service: str = "ingest") -> dict[str, Any]:
    return {
        "source": source,
        "service": service,
        "reason_code": "signature",
        "received_at": f"2026-11-18T10:00:{n:02d}+00:00",
    }


def test_ingest_refusals_of_a_watched_endpoint_count_for_its_source_and_nothing_else_does() -> None:
    systemic = Systemic(RULES, Routing(RULES))
    counts = systemic.refusal_counts(
        [letter(1), letter(2), letter(3, service="scorer"), letter(4, source="api"), {"source": "stripe"}]
    )
    assert (
        list(counts) == [("donation/stripe", "signature")]
        and sum(counts[("donation/stripe", "signature")].values()) == 2
    )


def test_a_silent_processor_is_alerted_to_its_owner_and_resolved_when_it_speaks_again() -> None:
    systemic = Systemic(RULES, Routing(RULES))
    volume = {"accepted": {str(int(T0) + 10 * n): 1 for n in range(300)}}  # 300 events in 50 minutes
    check = {"check": True, "since": T0, "advance_to": T0}
    stored, alerts = folded(systemic, STRIPE, [(T0 + 3000, volume), (T0 + 3000 + 31 * 60, check)])
    [silent] = alerts
    assert (silent["kind"], silent["owner"], silent["ack_within_minutes"]) == ("source.silent", "it-ops", 30)
    later = {"accepted": {str(int(T0) + 6000): 1}}
    _, [resolved] = systemic.fold(STRIPE, later, stored, T0 + 6001)
    assert (resolved["alert_id"], resolved["status"]) == (silent["alert_id"], "resolved")


def test_a_check_of_a_source_never_heard_of_stores_nothing_and_a_removed_rule_forgets_its_state() -> None:
    systemic = Systemic(RULES, Routing(RULES))
    assert systemic.fold(STRIPE, {"check": True, "since": T0, "advance_to": T0}, None, T0) == (None, [])
    assert systemic.fold(b"source:nobody", {"accepted": {"0": 1}}, orjson.dumps({}), T0) == (None, [])


def test_a_burst_of_bad_signatures_opens_source_rejecting() -> None:
    systemic = Systemic(RULES, Routing(RULES))
    refused = {"refused": {str(int(T0) + n * 10): 1 for n in range(12)}, "code": "signature"}
    _, [alert] = systemic.fold(STRIPE, refused, None, T0)
    assert (alert["kind"], alert["rule"], alert["owner"]) == (
        "source.rejecting",
        "rejecting:donation/stripe",
        "it-ops",
    )
