"""Operators acknowledge and resolve alerts; the scorer keeps updating them; neither undoes the other."""

from __future__ import annotations

from typing import Any

import pytest

from services.domain.alerts.actions import Action, ActionRefused, act, merge

OPENED: dict[str, Any] = {
    "alert_id": "transaction-1",
    "kind": "transaction.failed",
    "severity": "warning",
    "status": "open",
    "evidence": ["e1"],
    "opened_at": "2026-11-26T10:00:00+00:00",
    "resolved_at": None,
}


def test_acknowledging_records_who_and_when_and_keeps_the_alert_open() -> None:
    acknowledged = act(OPENED, Action.ACKNOWLEDGE, "alice", "2026-11-26T10:05:00+00:00", "calling them")
    assert acknowledged["status"] == "open"
    assert (acknowledged["acknowledged_by"], acknowledged["acknowledged_at"]) == (
        "alice",
        "2026-11-26T10:05:00+00:00",
    )
    assert acknowledged["actions"] == [
        {"action": "acknowledge", "by": "alice", "at": "2026-11-26T10:05:00+00:00", "note": "calling them"}
    ]


def test_resolving_by_hand_closes_the_alert_and_says_who_did() -> None:
    resolved = act(OPENED, Action.RESOLVE, "bob", "2026-11-26T10:06:00+00:00", None)
    assert (resolved["status"], resolved["resolved_by"], resolved["resolved_at"]) == (
        "resolved",
        "bob",
        "2026-11-26T10:06:00+00:00",
    )


def test_a_second_acknowledgement_or_acting_on_a_resolved_alert_is_refused_with_the_reason() -> None:
    acknowledged = act(OPENED, Action.ACKNOWLEDGE, "alice", "t1", None)
    with pytest.raises(ActionRefused, match="already acknowledged by alice at t1"):
        act(acknowledged, Action.ACKNOWLEDGE, "bob", "t2", None)
    resolved = act(acknowledged, Action.RESOLVE, "bob", "t3", None)
    for action in Action:
        with pytest.raises(ActionRefused, match="already resolved by bob"):
            act(resolved, action, "carol", "t4", None)


def test_a_scorer_update_after_an_acknowledgement_keeps_it() -> None:
    acknowledged = act(OPENED, Action.ACKNOWLEDGE, "alice", "t1", None)
    escalated = {**OPENED, "severity": "critical", "evidence": ["e1", "e2", "e3"]}
    merged = merge(acknowledged, escalated)
    assert merged["severity"] == "critical" and merged["evidence"] == ["e1", "e2", "e3"]
    assert merged["acknowledged_by"] == "alice" and len(merged["actions"]) == 1


def test_an_acknowledgement_landing_after_a_scorer_update_does_not_roll_it_back() -> None:
    published = act(OPENED, Action.ACKNOWLEDGE, "alice", "t1", None)  # made from the older version
    escalated = {**OPENED, "severity": "critical"}
    merged = merge(escalated, published)
    assert merged["severity"] == "critical"
    assert merged["acknowledged_by"] == "alice"
    assert "updated_by" not in merged


def test_resolved_by_hand_stays_resolved_while_the_scorer_adds_evidence() -> None:
    resolved = act(OPENED, Action.RESOLVE, "bob", "t1", None)
    more = {**OPENED, "evidence": ["e1", "e2"]}
    merged = merge(resolved, more)
    assert merged["evidence"] == ["e1", "e2"]
    assert (merged["status"], merged["resolved_by"]) == ("resolved", "bob")


def test_a_hand_resolution_does_not_override_the_scorer_having_resolved_first() -> None:
    by_scorer = {**OPENED, "status": "resolved", "resolved_at": "t2"}
    merged = merge(by_scorer, act(OPENED, Action.RESOLVE, "bob", "t3", None))
    assert merged["resolved_at"] == "t2" and "resolved_by" not in merged


def test_an_alert_not_seen_before_is_taken_as_it_comes() -> None:
    published = act(OPENED, Action.ACKNOWLEDGE, "alice", "t1", None)
    assert merge(None, published) == published
    assert merge(None, OPENED) == OPENED
