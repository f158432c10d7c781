"""Which events a constituent has already been counted for: every event id it ever counted. Pure.

A constituent remembers each event it counted as an 8-byte BLAKE2b hash of ``source:event_id``, written
as 11 URL-safe base64 characters and kept per day of the event's own time (``occurred_at``): a map from
day number (days since 1970, as text for JSON) to those tokens run together. Nothing is forgotten by age:
a re-read of a year of history (a replay, a rebalance, a CRM import sent twice) counts nothing twice.

What that means for callers (docs/scoring.md):
- a repeat of an event remembered changes nothing, however old it is and however many events came between;
- the one bound is the state's size: under ``MP_SCORER_MAX_STATE_BYTES`` the oldest days of ids are
  dropped first (state_bounds.py), counted in ``mp_scorer_state_trimmed_total{kind="event_ids"}`` and
  alerted on (``ScorerForgetsEventIds``): a repeat of a forgotten one would count again;
- two different ids share a hash with probability about n² / 2⁶⁵ for n ids of one person (for 10,000:
  3 in 10¹²); the later one would be dropped as a repeat;
- the cost is 11 bytes per event (plus a few per day), against 20–60 for the ids themselves.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

SECONDS_PER_DAY = 86_400
TOKEN_LENGTH = 11  # 8 bytes in URL-safe base64 without padding

SeenIds = dict[str, str]  # day number -> tokens run together


def token(key: str) -> str:
    """The 11-character form of one event's dedup key."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return base64.urlsafe_b64encode(digest)[:TOKEN_LENGTH].decode()


def day_of(event_time: float) -> int:
    return int(event_time // SECONDS_PER_DAY)


def _holds(tokens: str, wanted: str) -> bool:
    at = tokens.find(wanted)
    while at != -1:
        if at % TOKEN_LENGTH == 0:
            return True
        at = tokens.find(wanted, at + 1)
    return False


def first_time(ids: SeenIds, key: str, event_time: float) -> bool:
    """Whether ``key`` is new (a repeat with another ``occurred_at`` is a repeat too); if so remember it
    under its event's day."""
    wanted = token(key)
    for tokens in ids.values():
        if wanted in tokens and _holds(tokens, wanted):
            return False
    day = str(day_of(event_time))
    ids[day] = ids.get(day, "") + wanted
    return True


def count(ids: SeenIds) -> int:
    """How many event ids are remembered."""
    return sum(len(tokens) for tokens in ids.values()) // TOKEN_LENGTH


def from_recent_ids(keys: Iterable[str], event_time: float) -> SeenIds:
    """Carry a state written before this module (a list of the last 256 keys) over: all under one day."""
    tokens = "".join(token(key) for key in keys)
    return {str(day_of(event_time)): tokens} if tokens else {}
