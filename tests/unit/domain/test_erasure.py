"""Erasure: what a replay must drop, what suppression means, and what an alert keeps."""

from __future__ import annotations

import pytest

from services.domain.alerts.model import new_alert
from services.domain.erasure import ErasureRegistry, erased_alert
from services.ingest.replay import replayable


def test_a_replay_drops_what_was_written_before_the_erasure_and_keeps_what_came_after() -> None:
    registry = ErasureRegistry()
    registry.apply(
        {"constituent_id": "c-1", "at": 1000.0, "by": "dpo", "reason": "request", "suppress": False}
    )
    assert registry.written_before("c-1", 999.0) and registry.written_before("c-1", 1000.0)
    assert not registry.written_before("c-1", 1001.0)  # a new person, who happens to have the same id
    assert not registry.written_before("c-2", 0.0)
    assert "c-1" not in registry.suppressed


def test_suppression_is_remembered_and_a_second_erasure_moves_the_line_forward() -> None:
    registry = ErasureRegistry()
    registry.apply({"constituent_id": "c-1", "at": 1000.0, "suppress": True})
    registry.apply({"constituent_id": "c-1", "at": 2000.0, "suppress": False})
    assert "c-1" in registry.suppressed and registry.written_before("c-1", 1500.0)


@pytest.mark.parametrize("record", [None, [], {"at": 1.0}, {"constituent_id": 7, "at": 1.0}])
def test_a_record_that_is_not_an_erasure_is_refused(record: object) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        ErasureRegistry().apply(record)


def test_an_erased_persons_alert_keeps_its_id_kind_and_status_and_loses_the_person() -> None:
    alert = new_alert(
        alert_id="a-1",
        kind="transaction.failed",
        severity="warning",
        constituent_id="c-1",
        source="donation",
        departments=["fundraising"],
        title="Failed donation of 50 USD",
        detail="A donation of 50 USD by c-1 failed (card_declined).",
        evidence=["e-1"],
        rule="failed-transaction",
        opened_at="2026-11-27T10:00:00+00:00",
    )
    erased = erased_alert(alert)
    assert (erased["alert_id"], erased["kind"], erased["status"], erased["opened_at"]) == (
        "a-1",
        "transaction.failed",
        "open",
        "2026-11-27T10:00:00+00:00",
    )
    assert erased["constituent_id"] is None and erased["evidence"] == [] and "c-1" not in erased["detail"]


def test_dlq_replay_never_brings_an_erased_person_back() -> None:
    registry = ErasureRegistry()
    registry.apply({"constituent_id": "c-1", "at": 1_800_000_000.0, "suppress": False})
    letter = {
        "source": "api",
        "service": "ingest",
        "reason_code": "schema",
        "received_at": "2026-11-27T10:00:00+00:00",  # before the erasure
        "payload": '{"constituent_id": "c-1", "event_id": "e"}',
    }
    chosen, skipped = replayable([letter], None, registry)
    assert chosen == [] and skipped == {"erased on request": 1}
