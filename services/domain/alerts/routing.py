"""Who acts on an alert and how urgent it is: its rule's owner, a priority constituent's alerts one level
up, and an open alert nobody acknowledged in time escalated once. Pure.

Rules build their alerts without any of this (their lifecycles stay about the facts); ``Routing.route``
adds it to every copy the scorer publishes, from the rule's ``owner``/``ack_within_minutes`` in
deploy/config/alerts.toml and the constituent's state at that moment. The escalation of an unacknowledged
alert is decided by the API, which sees acknowledgements (``due_for_escalation``), and folded into each
view by ``actions.merge`` so the scorer's later updates keep it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.domain.alerts.model import Alert, Severity
from services.domain.alerts.rules import AlertRules, Routed
from services.domain.scoring import ConstituentState, giving_12_months

ONE_LEVEL_UP: dict[Severity, Severity] = {"info": "warning", "warning": "critical", "critical": "critical"}
ESCALATION = "escalation"  # the ``updated_by`` of the record that escalates an unacknowledged alert
SPIKE_PREFIX = "spike:"


@dataclass(frozen=True, slots=True)
class Route:
    owner: str
    ack_within_minutes: float | None


class Routing:
    """The owner and acknowledgement deadline of each rule, and the priority rules, from the alert rules."""

    def __init__(self, rules: AlertRules) -> None:
        def route(routed: Routed) -> Route:
            return Route(routed.owner, routed.ack_within_minutes)

        self._routes: dict[str, Route] = {
            "failed-transaction": route(rules.failed_transactions),
            "score-dropped": route(rules.score_drops),
            **{f"handoff:{rule.name}": route(rule) for rule in rules.handoffs},
        }
        for spike in reversed(rules.spikes):  # spike alerts are named by key: "spike:donation/stripe"
            self._routes[SPIKE_PREFIX + spike.source] = route(spike)
        if rules.recovery is not None:
            self._routes["recurring-recovery"] = route(rules.recovery)
        self._routes |= {f"silence:{rule.source}": route(rule) for rule in rules.silence}
        self._routes |= {f"rejecting:{rule.source}": route(rule) for rule in rules.rejecting}
        self._priority = rules.priority

    def route_of(self, rule: str) -> Route | None:
        found = self._routes.get(rule)
        if found is None and rule.startswith(SPIKE_PREFIX):
            found = self._routes.get(rule.split("/", 1)[0])
        return found

    def priorities(self, state: ConstituentState | None) -> list[str]:
        """The names of the priority rules this constituent meets now (none for systemic alerts)."""
        if state is None:
            return []
        giving = giving_12_months(state)
        return [
            rule.name
            for rule in self._priority
            if (rule.role is not None and rule.role in state.roles)
            or (rule.giving_12_months_at_least is not None and giving >= rule.giving_12_months_at_least)
        ]

    def route(self, alert: Alert, state: ConstituentState | None = None) -> Alert:
        """A copy of ``alert`` with its owner and acknowledgement deadline, and, for a priority
        constituent, ``priority`` and severity one level up. ``alert`` itself is left as the rule built it,
        so routing the next update of it never raises it twice."""
        routed: Alert = {**alert}
        found = self.route_of(alert["rule"])
        if found is not None:
            routed["owner"] = found.owner
            if found.ack_within_minutes is not None:
                routed["ack_within_minutes"] = found.ack_within_minutes
        because = self.priorities(state)
        if because:
            routed["priority"] = because
            routed["severity"] = ONE_LEVEL_UP[alert["severity"]]
        return routed


def due_for_escalation(alert: Alert, now: float) -> bool:
    """An open alert nobody acknowledged within its rule's ``ack_within_minutes`` of opening, not yet
    escalated for it."""
    ack_within = alert.get("ack_within_minutes")
    opened_at = alert.get("opened_at")
    if (
        ack_within is None
        or opened_at is None
        or alert["status"] != "open"
        or alert.get("acknowledged_at")
        or alert.get("escalated_unacknowledged")
    ):
        return False
    return datetime.fromisoformat(opened_at).timestamp() + ack_within * 60 <= now


def escalated_unacknowledged(alert: Alert, at: str) -> Alert:
    """The record that escalates ``alert`` for want of an acknowledgement: one severity level up, once."""
    return {
        **alert,
        "updated_by": ESCALATION,
        "severity": ONE_LEVEL_UP[alert["severity"]],
        "escalated_unacknowledged": True,
        "escalated_at": at,
    }
