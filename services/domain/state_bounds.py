"""Keeping one constituent's state under a byte limit, whatever is sent about them. Pure: no I/O.

Every per-person map is already capped by the model (counts and last touch by the model's types and
sources plus ``other``; contributions by its types; event ids by the dedup horizon; 20 timeline entries; 50
hand-offs; 20 early follow-ups; score peaks by the hours of the drop window). What can still grow is the
product: a person with events in many hours of the last 30 days has an hourly bucket per hour and type.
When a state's JSON exceeds the limit (MP_SCORER_MAX_STATE_BYTES, 64 KiB), this rule trims it, in order,
until it fits — each step losing the least:

1. the oldest hourly buckets (rolling 24 h / 7 d / 30 d counts then cover less; lifetime counts stay);
2. the oldest days of remembered event ids, down to the newest day (a repeat of a forgotten one counts
   again);
3. settled hand-offs (kept or broken, no longer pending) and early follow-ups;
4. the oldest timeline entries, down to 5.
"""

from __future__ import annotations

from collections import Counter

import orjson

from services.domain import dedup
from services.domain.scoring import ConstituentState

MIN_TIMELINE = 5


def size_of(state: ConstituentState) -> int:
    return len(orjson.dumps(state.to_dict()))


def trim(state: ConstituentState, limit: int) -> Counter[str]:
    """Trim ``state`` in place until its JSON is at most ``limit`` bytes (or nothing is left to trim);
    what was removed, by kind."""
    removed: Counter[str] = Counter()
    size = size_of(state)
    while size > limit:
        if len(state.hourly) > 1:
            oldest = sorted(state.hourly, key=int)[: max(1, len(state.hourly) // 4)]
            for hour in oldest:
                del state.hourly[hour]
            removed["hourly_buckets"] += len(oldest)
        elif len(state.seen_event_ids) > 1:
            oldest_day = min(state.seen_event_ids, key=int)
            removed["event_ids"] += dedup.count({oldest_day: state.seen_event_ids.pop(oldest_day)})
        elif state.early_follow_ups or any(h["status"] != "pending" for h in state.handoffs):
            settled = [h for h in state.handoffs if h["status"] != "pending"]
            state.handoffs[:] = [h for h in state.handoffs if h["status"] == "pending"]
            removed["settled_handoffs"] += len(settled)
            removed["early_follow_ups"] += len(state.early_follow_ups)
            state.early_follow_ups.clear()
        elif len(state.timeline) > MIN_TIMELINE:
            dropped = len(state.timeline) - MIN_TIMELINE
            del state.timeline[:dropped]
            removed["timeline_entries"] += dropped
        else:
            break  # only what scoring needs is left
        size = size_of(state)
    return removed
