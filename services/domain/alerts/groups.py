"""Open alerts grouped by rule and owner, so a hundred broken hand-offs of one kind are one line to act on
("event-confirmation … missing × 45 — events → marketing"). Pure.

The grouping keys are the labels Alertmanager groups by (``rule``, ``owner``), so the console and the
pager show the same groups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from services.domain.alerts.model import SEVERITIES, Alert, Severity

SHOWN_IDS = 200  # alert ids listed per group; the count is exact


@dataclass(slots=True)
class AlertGroup:
    rule: str
    owner: str
    kind: str
    title: str  # the newest alert's
    departments: list[str]
    count: int = 0
    unacknowledged: int = 0
    priority: int = 0
    severity: Severity = "info"  # the highest in the group
    newest_at: str = ""  # the latest opened_at
    oldest_at: str = ""  # the earliest opened_at: how long the oldest has waited
    alert_ids: list[str] = field(default_factory=list)  # newest first

    def add(self, alert: Alert) -> None:
        self.count += 1
        self.unacknowledged += not alert.get("acknowledged_at")
        self.priority += bool(alert.get("priority"))
        if SEVERITIES.index(alert["severity"]) > SEVERITIES.index(self.severity):
            self.severity = alert["severity"]
        opened = alert.get("opened_at") or ""
        self.newest_at = max(self.newest_at, opened)
        self.oldest_at = min(self.oldest_at, opened) if self.oldest_at else opened
        if len(self.alert_ids) < SHOWN_IDS:
            self.alert_ids.append(alert["alert_id"])

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _ALERT_GROUP_FIELDS}


_ALERT_GROUP_FIELDS = tuple(f.name for f in fields(AlertGroup))  # not __slots__: mypyc compiles this module


def group_alerts(newest_first: Iterable[Alert]) -> list[AlertGroup]:
    """Groups by (rule, owner), the one with the newest alert first; within a group, newest first."""
    groups: dict[tuple[str, str], AlertGroup] = {}
    for alert in newest_first:
        key = (alert["rule"], alert.get("owner", ""))
        group = groups.get(key)
        if group is None:
            group = groups[key] = AlertGroup(
                rule=key[0],
                owner=key[1],
                kind=alert["kind"],
                title=alert["title"],
                departments=list(alert.get("departments") or []),
            )
        group.add(alert)
    return sorted(groups.values(), key=lambda group: group.newest_at, reverse=True)
