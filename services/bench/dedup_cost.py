"""What remembering event ids costs one constituent: bytes of state and time per event, for the dedup
(services/domain/dedup.py) against the last-256-ids list it replaced, in the same run. Pure: no Kafka.
"""

from __future__ import annotations

import time
import uuid

import orjson

from services.bench.measure import Figures
from services.domain import dedup
from services.domain.scoring import dedup_key

SIZES = (10, 256, 1_000, 10_000)
OLD_WINDOW = 256
TIMED = 2_000  # events timed after the person already has ``size`` remembered
START = 1_790_000_000.0


def _keys(count: int) -> list[str]:
    return [dedup_key("donation", f"evt_{uuid.uuid4().hex[:24]}") for _ in range(count)]


def _spread(count: int) -> list[float]:
    """Event times spread evenly over six days: several day buckets."""
    return [START + 6 * 86_400 * n / max(1, count) for n in range(count)]


def _time_new(ids: dedup.SeenIds, keys: list[str], at: float) -> float:
    started = time.perf_counter()
    for key in keys:
        dedup.first_time(ids, key, at)
    return (time.perf_counter() - started) / len(keys)


def _time_old(recent: list[str], keys: list[str]) -> float:
    started = time.perf_counter()
    for key in keys:
        if key not in recent:
            recent.append(key)
            if len(recent) > OLD_WINDOW:
                del recent[0]
    return (time.perf_counter() - started) / len(keys)


def dedup_cost() -> dict[str, Figures]:
    """For a person with ``size`` events remembered: the bytes their remembered ids take in the
    state's JSON, how many ids that covers, and the time to check and remember one more event."""
    results: dict[str, Figures] = {}
    for size in SIZES:
        keys, times = _keys(size), _spread(size)
        ids: dedup.SeenIds = {}
        for key, at in zip(keys, times, strict=True):
            dedup.first_time(ids, key, at)
        recent = keys[-OLD_WINDOW:]
        new_bytes = len(orjson.dumps(ids))
        old_bytes = len(orjson.dumps(recent))
        fresh = _keys(TIMED)
        new_s = _time_new(dict(ids), fresh, times[-1])
        old_s = _time_old(list(recent), fresh)
        results[f"{size:,} events remembered"] = {
            "events": size,
            "bytes": new_bytes,
            "bytes_per_id": round(new_bytes / size, 1),
            "remembered": dedup.count(ids),
            "old_bytes": old_bytes,
            "old_remembered": len(recent),
            "us_per_event": round(new_s * 1e6, 2),
            "old_us_per_event": round(old_s * 1e6, 2),
        }
    return results
