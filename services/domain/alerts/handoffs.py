"""Broken hand-offs: a trigger expects a follow-up for the same constituent before a deadline. Pure.

Each hand-off a constituent owes is one entry in their state, moving through
``pending`` → ``kept`` (follow-up in time) or ``broken`` (deadline passed, or the follow-up bounced);
a ``broken`` one becomes ``kept`` when its follow-up arrives late, which resolves its alert "late".
Kept entries stay an hour so that a bounce of the follow-up still breaks them. A follow-up seen before its
trigger (events out of order) is remembered briefly and fulfils the trigger when it comes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.domain.alerts.model import Alert, Status, derive_alert_id, new_alert
from services.domain.alerts.rules import HandoffRule
from services.domain.matching import matches

Handoff = dict[str, Any]
KEPT_FOR_SECONDS = 3600.0  # a kept hand-off can still be broken by a bounce this long after it was kept
BROKEN_KEPT_FOR_SECONDS = 7 * 86400.0  # a late follow-up within this long still resolves a broken one
MAX_HANDOFFS = 50  # per constituent; the oldest go first
MAX_EARLY_FOLLOW_UPS = 20
BOUNCE_TYPE = "email.bounced"  # breaks a hand-off whose follow-up is an email.sent


def _iso_of(handoff: Handoff, key: str) -> str | None:
    value = handoff.get(key)
    return None if value is None else str(value)


def _alert(rule: HandoffRule, handoff: Handoff, status: Status, detail: str, evidence: list[str]) -> Alert:
    source_department, target_department = rule.departments
    return new_alert(
        alert_id=derive_alert_id("handoff", rule.name, handoff["trigger_event_id"]),
        kind="handoff.broken",
        severity=rule.severity,
        status=status,
        constituent_id=handoff["constituent_id"],
        source=handoff["source"],
        departments=[source_department, target_department],
        title=f"{rule.name}: {rule.follow_up.type} {_describe(rule.follow_up.attributes)}missing",
        detail=detail,
        evidence=evidence,
        rule=f"handoff:{rule.name}",
        opened_at=_iso_of(handoff, "broken_at_iso"),
        resolved_at=_iso_of(handoff, "resolved_at_iso"),
    )


def _describe(attributes: dict[str, Any]) -> str:
    return "".join(f"{name}={value} " for name, value in attributes.items())


def _correlated(rule: HandoffRule, handoff: Handoff, event: dict[str, Any]) -> bool:
    return not rule.same_correlation_id or (
        handoff["correlation_id"] is not None and handoff["correlation_id"] == event.get("correlation_id")
    )


def _deadline_text(rule: HandoffRule) -> str:
    minutes = rule.deadline_minutes
    return f"{minutes / 60:g} h" if minutes >= 60 else f"{minutes:g} min"


def event_types(rules: tuple[HandoffRule, ...]) -> frozenset[str]:
    """The event types ``on_event`` can act on: triggers, follow-ups, cancellations, and bounces of e-mail
    follow-ups."""
    types = {rule.trigger.type for rule in rules} | {rule.follow_up.type for rule in rules}
    types |= {rule.cancelled_by.type for rule in rules if rule.cancelled_by is not None}
    return frozenset(types | ({BOUNCE_TYPE} if "email.sent" in types else set()))


def on_event(
    handoffs: list[Handoff],
    early_follow_ups: list[dict[str, Any]],
    event: dict[str, Any],
    event_time: float,
    rules: tuple[HandoffRule, ...],
) -> list[Alert]:
    """Update a constituent's hand-offs for one event; return the alert updates it causes."""
    alerts: list[Alert] = []
    event_type = event["type"]
    for rule in rules:
        if rule.cancelled_by is not None and matches(rule.cancelled_by, event):
            _cancel(rule, handoffs, event, event_time)
        if event_type not in (rule.trigger.type, rule.follow_up.type, BOUNCE_TYPE):
            continue
        is_follow_up = matches(rule.follow_up, event)
        is_bounce = rule.follow_up.type == "email.sent" and matches(
            rule.follow_up, event, as_type=BOUNCE_TYPE
        )
        if is_follow_up or is_bounce:
            candidates = [
                h
                for h in handoffs
                if h["rule"] == rule.name
                and _correlated(rule, h, event)
                and (not rule.repeats or h["deadline"] - rule.deadline_seconds < event_time)
            ]
            if is_bounce:
                if candidates:
                    alerts += _bounce(rule, candidates, event, event_time)
                else:  # before its trigger (out of order): breaks the hand-off the trigger makes
                    seen = {"rule": rule.name, "correlation_id": event.get("correlation_id"), "bounce": True}
                    early_follow_ups.append({**seen, "time": event_time, "event_id": event["event_id"]})
                    del early_follow_ups[:-MAX_EARLY_FOLLOW_UPS]
            else:
                # not one whose follow-up bounced at or after this one was sent: this is the bounced one
                # (arrived after its bounce); a follow-up sent after the bounce is a resend and counts
                owed = sorted(
                    (
                        h
                        for h in candidates
                        if h["status"] != "kept" and h.get("bounced_at", float("-inf")) < event_time
                    ),
                    key=lambda h: h["deadline"],
                )
                if owed:
                    alerts += _fulfil(rule, owed[0], event, event_time)
                else:
                    seen = {"rule": rule.name, "correlation_id": event.get("correlation_id")}
                    early_follow_ups.append({**seen, "time": event_time, "event_id": event["event_id"]})
                    del early_follow_ups[:-MAX_EARLY_FOLLOW_UPS]
        if matches(rule.trigger, event) and not any(
            h["trigger_event_id"] == event["event_id"] and h["rule"] == rule.name for h in handoffs
        ):
            handoff: Handoff = {
                "rule": rule.name,
                "constituent_id": event["constituent_id"],
                "source": event["source"],
                "trigger_event_id": event["event_id"],
                "correlation_id": event.get("correlation_id"),
                "deadline": event_time + rule.deadline_seconds,
                "status": "pending",
                "settled_at": None,
            }
            handoffs.append(handoff)
            early = next(
                (
                    f
                    for f in early_follow_ups
                    if f["rule"] == rule.name
                    and not f.get("bounce")
                    and _correlated(rule, handoff, f)
                    and (f["time"] > event_time if rule.repeats else f["time"] >= event_time)
                ),
                None,
            )
            if early is not None:
                early_follow_ups.remove(early)
                alerts += _fulfil(rule, handoff, {"event_id": early["event_id"]}, early["time"])
            for bounce in [
                f
                for f in early_follow_ups
                if f.get("bounce") and f["rule"] == rule.name and _correlated(rule, handoff, f)
                and f["time"] >= event_time
            ]:  # fmt: skip
                early_follow_ups.remove(bounce)
                alerts += _bounce(rule, [handoff], {"event_id": bounce["event_id"]}, bounce["time"])
    del handoffs[:-MAX_HANDOFFS]
    return alerts


def _fulfil(rule: HandoffRule, handoff: Handoff, event: dict[str, Any], event_time: float) -> list[Alert]:
    was = handoff["status"]
    handoff["status"], handoff["settled_at"] = "kept", event_time
    if (was == "pending" and event_time <= handoff["deadline"]) or handoff.get("suppressed"):
        return []  # in time, or its breaking was never announced (storm control)
    late_by = event_time - handoff["deadline"]
    handoff["resolved_at_iso"] = _iso(event_time)
    handoff.setdefault("broken_at_iso", _iso(handoff["deadline"]))
    if late_by > 0:
        detail = (
            f"The follow-up arrived {late_by / 60:.0f} min after the {_deadline_text(rule)} deadline (late)."
        )
    else:  # dated in time, delivered after the deadline was judged: the provider held it back
        detail = (
            f"The follow-up is dated within the {_deadline_text(rule)} deadline but reached Mission Pulse "
            "after it had passed (a delayed delivery: the hand-off was kept, the pipe was slow)."
        )
    return [_alert(rule, handoff, "resolved", detail, [handoff["trigger_event_id"], event["event_id"]])]


def _cancel(rule: HandoffRule, handoffs: list[Handoff], event: dict[str, Any], event_time: float) -> None:
    """What the rule's trigger started has ended (the recurring gift was cancelled): nothing is owed any
    more. Pending ones settle silently; a trigger newer than the cancellation (restarted) stays owed."""
    for handoff in handoffs:
        started = handoff["deadline"] - rule.deadline_seconds
        if (
            handoff["rule"] == rule.name
            and handoff["status"] == "pending"
            and started <= event_time
            and _correlated(rule, handoff, event)
        ):
            handoff["status"], handoff["settled_at"] = "kept", event_time
            handoff["cancelled_by"] = event["event_id"]


def _bounce(
    rule: HandoffRule, candidates: list[Handoff], event: dict[str, Any], event_time: float
) -> list[Alert]:
    alerts = []
    for handoff in candidates:
        # remembered even on one broken already (its deadline passed): its follow-up, should it arrive
        # after its bounce, must not keep it
        handoff["bounced_at"] = max(handoff.get("bounced_at", event_time), event_time)
        if handoff["status"] == "broken":
            continue
        handoff["status"], handoff["settled_at"] = "broken", event_time
        handoff["broken_at_iso"] = _iso(event_time)
        handoff.pop("resolved_at_iso", None)
        detail = f"The {rule.follow_up.type} follow-up bounced; the constituent never received it."
        alerts.append(_alert(rule, handoff, "open", detail, [handoff["trigger_event_id"], event["event_id"]]))
    return alerts


def expire(handoffs: list[Handoff], watermark: float, rules: tuple[HandoffRule, ...]) -> list[Alert]:
    """Break every pending hand-off whose deadline the watermark passed; forget settled ones in time."""
    if not handoffs:  # most constituents, most of the time: checked per event
        return []
    by_name = {rule.name: rule for rule in rules}
    alerts = []
    for handoff in list(handoffs):
        rule = by_name.get(handoff["rule"])
        if rule is None:  # the rule was removed from the configuration
            handoffs.remove(handoff)
        elif handoff["status"] == "pending" and handoff["deadline"] <= watermark:
            handoff["status"], handoff["settled_at"] = "broken", handoff["deadline"]
            handoff["broken_at_iso"] = _iso(handoff["deadline"])
            expected = f"{rule.follow_up.type} {_describe(rule.follow_up.attributes)}"
            detail = f"No {expected}within {_deadline_text(rule)}."
            alerts.append(_alert(rule, handoff, "open", detail, [handoff["trigger_event_id"]]))
        elif handoff["status"] != "pending":
            kept_for = KEPT_FOR_SECONDS if handoff["status"] == "kept" else BROKEN_KEPT_FOR_SECONDS
            if handoff["settled_at"] + kept_for <= watermark:
                handoffs.remove(handoff)
    return alerts


def next_deadline(handoffs: list[Handoff]) -> float | None:
    """When this constituent next needs looking at: the earliest pending deadline."""
    return min((h["deadline"] for h in handoffs if h["status"] == "pending"), default=None)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
