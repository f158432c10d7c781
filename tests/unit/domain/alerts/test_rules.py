"""The alert rules' configuration."""

from __future__ import annotations

from services.domain.alerts.rules import AlertRules


def test_deadlines_can_be_compressed_for_a_demo(rules: AlertRules) -> None:
    fast = rules.with_deadlines_scaled(0.02)
    assert [rule.deadline_seconds for rule in fast.handoffs] == [
        rule.deadline_seconds * 0.02 for rule in rules.handoffs
    ]
    assert rules.with_deadlines_scaled(1) is rules
