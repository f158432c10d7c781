"""Event-time progress per partition, with a wall-clock fallback for quiet partitions. Pure: no I/O.

A deadline is due once the watermark of its partition passes it. While a partition is busy (live traffic
or a replay) its watermark is its newest event time minus the allowed lateness, so a replay fires exactly
the deadlines the original stream fired. A partition that received nothing for ``idle_seconds`` is caught
up: its watermark follows the wall clock, so a deadline still fires when no further event comes.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Watermarks:
    allowed_lateness: float
    idle_seconds: float
    _newest_event: dict[int, float] = field(default_factory=dict)
    _last_arrival: dict[int, float] = field(default_factory=dict)

    def observe(self, partition: int, event_time: float, now: float) -> None:
        self._newest_event[partition] = max(self._newest_event.get(partition, event_time), event_time)
        self._last_arrival[partition] = now

    def watermark(self, partition: int, now: float) -> float:
        from_events = self._newest_event.get(partition, float("-inf")) - self.allowed_lateness
        if now - self._last_arrival.get(partition, float("-inf")) >= self.idle_seconds:
            return max(from_events, now - self.allowed_lateness)
        return from_events
