"""Open alerts grouped by rule and owner: counts, the newest first, the highest severity."""

from __future__ import annotations

from typing import Any

from services.domain.alerts.groups import group_alerts


def alert(n: int, rule: str, owner: str, severity: str = "warning", **more: Any) -> dict[str, Any]:
    return {
        "alert_id": f"a{n}",
        "rule": rule,
        "owner": owner,
        "kind": "handoff.broken",
        "severity": severity,
        "title": f"{rule} missing",
        "departments": ["events", "marketing"],
        "opened_at": f"2026-11-27T10:{n:02d}:00+00:00",
        **more,
    }


def test_alerts_group_by_rule_and_owner_with_exact_counts_newest_group_first() -> None:
    newest_first = [
        alert(9, "handoff:event-confirmation", "events"),
        alert(8, "failed-transaction", "finance", "critical", priority=["major-donor"]),
        alert(7, "handoff:event-confirmation", "events", acknowledged_at="2026-11-27T10:08:00+00:00"),
        alert(3, "handoff:event-confirmation", "events"),
        alert(2, "failed-transaction", "finance"),
    ]
    groups = group_alerts(newest_first)  # type: ignore[arg-type]
    assert [(g.rule, g.owner, g.count) for g in groups] == [
        ("handoff:event-confirmation", "events", 3),
        ("failed-transaction", "finance", 2),
    ]
    events, finance = groups
    assert (events.unacknowledged, events.alert_ids, events.oldest_at) == (
        2,
        ["a9", "a7", "a3"],
        "2026-11-27T10:03:00+00:00",
    )
    assert (finance.severity, finance.priority, finance.newest_at) == (
        "critical",
        1,
        "2026-11-27T10:08:00+00:00",
    )
