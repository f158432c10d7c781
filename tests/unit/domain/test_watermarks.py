"""Watermarks: event time while a partition is busy, the wall clock once it is quiet."""

from __future__ import annotations

from services.domain.watermarks import Watermarks


def test_a_busy_partition_follows_event_time_and_a_quiet_one_the_wall_clock() -> None:
    marks = Watermarks(allowed_lateness=60, idle_seconds=5)
    marks.observe(0, event_time=1_000, now=50_000)
    assert marks.watermark(0, now=50_001) == 940
    assert marks.watermark(0, now=50_010) == 50_010 - 60
    assert marks.watermark(3, now=50_001) == 50_001 - 60  # never seen: nothing to wait for
