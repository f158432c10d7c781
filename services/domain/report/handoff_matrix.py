"""The hand-off matrix: per rule and department pair, how the hand-offs triggered in a window ended. Pure.

Each hand-off counts once in the window of its trigger, as one of ``pending``, ``in_time`` (its
follow-up dated within the deadline), ``late`` (after it), ``broken`` (the deadline passed with nothing,
or the follow-up bounced) or ``cancelled`` (what started it ended), and — once kept — in a bucket of the
time its follow-up took (for p50/p90). Judged by event times, so the same events give the same matrix
whatever order they arrive in. The scorer notes each person's hand-offs before a batch (``snapshot``)
and, after it, turns what changed into counter increments (``changes``).
"""

from __future__ import annotations

from typing import Any

from services.domain.alerts.rules import HandoffRule
from services.domain.report.counters import GRANULARITIES, WindowCounters, add, window_of

# upper bounds of the "time to follow-up" buckets, seconds (the last is open-ended)
TOOK_BUCKETS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400)
Snapshot = dict[tuple[str, str], tuple[str, int | None]]  # (rule, trigger) → (outcome, took bucket)


def took_bucket(seconds: float) -> int:
    return next((bound for bound in TOOK_BUCKETS if seconds <= bound), 0)  # 0: longer than the last


def outcome(handoff: dict[str, Any], rule: HandoffRule) -> tuple[str, int | None]:
    status = handoff["status"]
    if status == "pending":
        return "pending", None
    if status == "broken":
        return "broken", None
    if handoff.get("cancelled_by"):
        return "cancelled", None
    triggered = handoff["deadline"] - rule.deadline_seconds
    took = max(0.0, handoff["settled_at"] - triggered)
    return ("in_time" if handoff["settled_at"] <= handoff["deadline"] else "late"), took_bucket(took)


def snapshot(handoffs: list[dict[str, Any]], rules: dict[str, HandoffRule]) -> Snapshot:
    return {
        (h["rule"], h["trigger_event_id"]): outcome(h, rules[h["rule"]])
        for h in handoffs
        if h["rule"] in rules
    }


def changes(
    before: Snapshot, handoffs: list[dict[str, Any]], rules: dict[str, HandoffRule], counters: WindowCounters
) -> None:
    """Counter increments for what changed since ``before``. A hand-off forgotten since (settled long ago)
    keeps what it counted."""
    for handoff in handoffs:
        rule = rules.get(handoff["rule"])
        if rule is None:
            continue
        now = outcome(handoff, rule)
        was = before.get((handoff["rule"], handoff["trigger_event_id"]))
        if was == now:
            continue
        pair = "{}>{}".format(*rule.departments)
        prefix = f"handoff|{rule.name}|{pair}"
        triggered = handoff["deadline"] - rule.deadline_seconds
        for granularity in GRANULARITIES:
            window = window_of(granularity, triggered)
            if was is None:
                add(counters, window, f"{prefix}|triggered", 1)
            else:
                add(counters, window, f"{prefix}|{was[0]}", -1)
                if was[1] is not None:
                    add(counters, window, f"{prefix}|took|{was[1]}", -1)
            add(counters, window, f"{prefix}|{now[0]}", 1)
            if now[1] is not None:
                add(counters, window, f"{prefix}|took|{now[1]}", 1)
