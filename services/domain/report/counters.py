"""What a report window holds: integer counters that only ever add up. Pure.

Every figure of the Mission Experience report is kept as additive integer counters per window (scores
in hundredths, points in thousandths, amounts in cents), so the scorer can send each batch's changes as
increments and the aggregator can fold them in any order, any number of batches at a time, and get
exactly what brute force over the same events gives (tests/unit/domain/report).

A window is ``h:<hour index>`` or ``d:<day index>`` of event time (hours and days since the epoch, UTC).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Literal

Granularity = Literal["hour", "day"]
GRANULARITIES: dict[Granularity, tuple[str, int]] = {"hour": ("h", 3600), "day": ("d", 86400)}
# how long after a person's newest event each of their windows still takes their late events
HORIZON_S: dict[Granularity, float] = {"hour": 48 * 3600.0, "day": 40 * 86400.0}
KEPT_DAYS = 400  # how long the aggregator keeps a window

WindowCounters = dict[str, Counter[str]]  # window key → counter name → value


def window_of(granularity: Granularity, epoch: float) -> str:
    prefix, seconds = GRANULARITIES[granularity]
    return f"{prefix}:{int(epoch // seconds)}"


def windows_of(epoch: float) -> tuple[str, str]:
    return window_of("hour", epoch), window_of("day", epoch)


def window_bounds(window: str) -> tuple[float, float]:
    """[start, end) of a window key, epoch seconds."""
    prefix, index = window.split(":")
    seconds = 3600 if prefix == "h" else 86400
    return int(index) * seconds, (int(index) + 1) * seconds


def granularity_of(window: str) -> Granularity:
    return "hour" if window.startswith("h:") else "day"


def counter_of(counters: WindowCounters, window: str) -> Counter[str]:
    """The window's counters, made empty the first time (without building one per call)."""
    counted = counters.get(window)
    if counted is None:
        counted = counters[window] = Counter()
    return counted


def add(counters: WindowCounters, window: str, name: str, value: int) -> None:
    if value:
        counter_of(counters, window)[name] += value


def fold(target: Counter[str], more: Mapping[str, int]) -> None:
    """Add ``more`` into ``target``; counters that reach zero go (so equal sums compare equal)."""
    for name, value in more.items():
        total = target[name] + value
        if total:
            target[name] = total
        else:
            del target[name]


def merge(into: WindowCounters, more: WindowCounters) -> None:
    """Fold every window of ``more`` into ``into``; a window left with no counter goes."""
    for window, counted in more.items():
        target = into.setdefault(window, Counter())
        fold(target, counted)
        if not target:
            del into[window]


def cents(amount: float) -> int:
    return round(amount * 100)
