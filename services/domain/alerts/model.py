"""What an alert is: its typed shape, its kinds and severities, its id, and the one builder. Pure.

Every rule (failed transactions, score drops, hand-offs, spikes) builds its alerts with ``new_alert``, and
operators' actions add their fields to the same shape, so the scorer, the API, the console and
Alertmanager all read one record. Each update on the ``alerts`` topic carries the whole alert; the latest
wins (merged by ``actions.merge``).
"""

from __future__ import annotations

import hashlib
from typing import Literal, NotRequired, TypedDict, get_args

Kind = Literal[
    "transaction.failed",
    "failure.spike",
    "handoff.broken",
    "score.dropped",
    "source.silent",
    "source.rejecting",
    "recurring.recovery",
]
Severity = Literal["info", "warning", "critical"]
Status = Literal["open", "resolved"]
ALERT_KINDS: tuple[Kind, ...] = get_args(Kind)
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
STATUSES: tuple[Status, ...] = get_args(Status)


class OperatorEntry(TypedDict):
    """One operator action, as recorded in ``Alert.actions``."""

    action: str
    by: str  # the key's name
    at: str
    note: str | None
    on_behalf_of: NotRequired[str]  # whom the key's holder named


class Alert(TypedDict):
    """One alert update, as published to the ``alerts`` topic and served by the API."""

    alert_id: str
    kind: Kind
    severity: Severity
    status: Status
    constituent_id: str | None  # None for systemic alerts (failure.spike, source.*)
    source: str
    departments: list[str]
    title: str
    detail: str
    evidence: list[str]  # event ids, the triggering one first
    rule: str
    opened_at: str | None  # RFC 3339
    resolved_at: str | None
    escalated: NotRequired[bool]  # repeated failures raised it (transactions.py)
    # set by routing (services/domain/alerts/routing.py)
    owner: NotRequired[str]  # the team that acts on it, from its rule
    ack_within_minutes: NotRequired[float]  # open and unacknowledged this long after opened_at: escalated
    priority: NotRequired[list[str]]  # the priority rules its constituent meets (severity one level up)
    escalated_unacknowledged: NotRequired[bool]  # nobody acknowledged it in time: one level up, once
    escalated_at: NotRequired[str]
    erased: NotRequired[bool]  # its constituent was erased: no person, no evidence (domain/erasure.py)
    # set by operators' actions (services/domain/alerts/actions.py)
    updated_by: NotRequired[str]
    actions: NotRequired[list[OperatorEntry]]
    acknowledged_by: NotRequired[str]
    acknowledged_at: NotRequired[str]
    resolved_by: NotRequired[str]


def derive_alert_id(prefix: str, *parts: str) -> str:
    """A stable id from what identifies the alert, so a replay updates the same alert, never a new one."""
    return f"{prefix}-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def new_alert(
    *,
    alert_id: str,
    kind: Kind,
    severity: Severity,
    constituent_id: str | None,
    source: str,
    departments: list[str],
    title: str,
    detail: str,
    evidence: list[str],
    rule: str,
    opened_at: str | None,
    status: Status = "open",
    resolved_at: str | None = None,
) -> Alert:
    """An alert with every field every consumer relies on."""
    return {
        "alert_id": alert_id,
        "kind": kind,
        "severity": severity,
        "status": status,
        "constituent_id": constituent_id,
        "source": source,
        "departments": departments,
        "title": title,
        "detail": detail,
        "evidence": evidence,
        "rule": rule,
        "opened_at": opened_at,
        "resolved_at": resolved_at,
    }


def resolved(alert: Alert, at: str | None, why: str) -> Alert:
    """The update that resolves ``alert`` at ``at``, its detail saying ``why`` after what it said."""
    return {**alert, "status": "resolved", "resolved_at": at, "detail": f"{alert['detail']} {why}"}
