"""What operators do to alerts (acknowledge, resolve by hand) and how that meets the scorer's updates. Pure.

Both the scorer and operators (through the API) publish whole alerts to the one ``alerts`` topic, so any
consumer sees the latest full alert. They own different fields: the scorer owns the lifecycle (status,
severity, evidence), operators own the acknowledgement and a resolution by hand. ``merge`` folds a record
into what a view already holds by those rules, so neither side undoes the other whichever lands first,
and every view replica, reading the same topic in the same order, ends up with the same alert.
"""

from __future__ import annotations

from enum import Enum

from services.domain.alerts.model import Alert, OperatorEntry
from services.domain.alerts.routing import ESCALATION, ONE_LEVEL_UP

OPERATOR = "operator"  # the ``updated_by`` of a record an operator's action published
MAX_NOTE = 500


class Action(Enum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class ActionRefused(Exception):
    """The action does not apply to the alert as it stands (the message says why)."""


def act(
    alert: Alert, action: Action, by: str, at: str, note: str | None, on_behalf_of: str | None = None
) -> Alert:
    """The alert after an operator's action, as published; ActionRefused when it does not apply. ``by`` is
    the key that acted; ``on_behalf_of`` whom its holder names (free text, never taken as ``by``)."""
    if alert["status"] == "resolved":
        who = f" by {alert['resolved_by']}" if alert.get("resolved_by") else ""
        raise ActionRefused(f"alert {alert['alert_id']} is already resolved{who} (at {alert['resolved_at']})")
    if action is Action.ACKNOWLEDGE and alert.get("acknowledged_at"):
        raise ActionRefused(
            f"alert {alert['alert_id']} was already acknowledged by {alert['acknowledged_by']} "
            f"at {alert['acknowledged_at']}"
        )
    entry: OperatorEntry = {"action": action.value, "by": by, "at": at, "note": note}
    if on_behalf_of:
        entry["on_behalf_of"] = on_behalf_of
    changed: Alert = {**alert, "updated_by": OPERATOR, "actions": [*alert.get("actions", []), entry]}
    if action is Action.ACKNOWLEDGE:
        changed["acknowledged_by"], changed["acknowledged_at"] = by, at
    else:
        changed["status"], changed["resolved_at"], changed["resolved_by"] = "resolved", at, by
    return changed


def merge(previous: Alert | None, update: Alert) -> Alert:
    """The alert a view holds after ``update`` lands on ``previous`` (None: not seen, or no longer kept)."""
    if previous is None:
        return update
    if update.get("updated_by") == ESCALATION:
        # once, and only while nobody acknowledged or resolved it: one level above the latest severity
        if (
            previous.get("escalated_unacknowledged")
            or previous.get("acknowledged_at")
            or previous["status"] != "open"
        ):
            return previous
        return {
            **previous,
            "severity": ONE_LEVEL_UP[previous["severity"]],
            "escalated_unacknowledged": True,
            "escalated_at": update["escalated_at"],
        }
    if update.get("updated_by") == OPERATOR:
        # the operator's fields on top of the scorer's latest lifecycle
        merged: Alert = {
            **previous,
            "actions": _union(previous.get("actions", []), update.get("actions", [])),
        }
        if (acknowledged_by := update.get("acknowledged_by")) and not previous.get("acknowledged_by"):
            merged["acknowledged_by"] = acknowledged_by
        if (acknowledged_at := update.get("acknowledged_at")) and not previous.get("acknowledged_at"):
            merged["acknowledged_at"] = acknowledged_at
        if (resolved_by := update.get("resolved_by")) and previous["status"] != "resolved":
            merged["status"], merged["resolved_at"] = update["status"], update["resolved_at"]
            merged["resolved_by"] = resolved_by
        return merged
    # the scorer's update, keeping what operators did
    merged = {**update}
    if "actions" in previous:
        merged["actions"] = previous["actions"]
    if "acknowledged_by" in previous:
        merged["acknowledged_by"] = previous["acknowledged_by"]
    if "acknowledged_at" in previous:
        merged["acknowledged_at"] = previous["acknowledged_at"]
    if previous.get("escalated_unacknowledged"):  # escalated stays escalated, above what the rule says
        merged["severity"] = ONE_LEVEL_UP[update["severity"]]
        merged["escalated_unacknowledged"] = True
        merged["escalated_at"] = previous["escalated_at"]
    if by_hand := previous.get("resolved_by"):
        # resolved by hand stays resolved: the scorer's further updates add evidence, not a reopening
        merged["status"], merged["resolved_at"] = previous["status"], previous["resolved_at"]
        merged["resolved_by"] = by_hand
    return merged


def _union(old: list[OperatorEntry], new: list[OperatorEntry]) -> list[OperatorEntry]:
    return [*old, *(entry for entry in new if entry not in old)]
