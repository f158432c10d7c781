"""Where a service's memory grows: with ``MP_TRACEMALLOC_EVERY_S`` set, Python's allocations are traced and
every so often the sites that grew most since the first look are logged ("memory grew"), with the process's
RSS. A diagnostic for soaks and for an operator chasing growth: tracing slows allocation-heavy code by two
to three times, so it is off by default."""

from __future__ import annotations

import asyncio
import logging
import tracemalloc

from services.common.processes import rss_bytes

log = logging.getLogger(__name__)
FRAMES = 8  # enough to see which of our lines called the allocating library code


def growth(first: tracemalloc.Snapshot, now: tracemalloc.Snapshot, limit: int = 12) -> list[str]:
    """The ``limit`` allocation sites (by traceback) that grew most, as one line each: size, count, where."""
    lines = []
    for stat in now.compare_to(first, "traceback")[:limit]:
        frames = " < ".join(f"{frame.filename.rsplit('/', 2)[-1]}:{frame.lineno}" for frame in stat.traceback)
        lines.append(f"{stat.size_diff / 2**20:+.1f} MB ({stat.count_diff:+,} blocks) {frames}")
    return lines


async def watch_memory(every_s: float, pid: int) -> None:
    """Trace allocations; every ``every_s`` log the sites that grew most since the first snapshot."""
    tracemalloc.start(FRAMES)
    await asyncio.sleep(every_s)
    first = await asyncio.to_thread(tracemalloc.take_snapshot)  # seconds of work: not on the event loop
    while True:
        await asyncio.sleep(every_s)
        now = await asyncio.to_thread(tracemalloc.take_snapshot)
        sites = await asyncio.to_thread(growth, first, now)
        traced, _ = tracemalloc.get_traced_memory()
        log.warning(
            "memory grew",
            extra={
                "rss_mb": round(rss_bytes(pid) / 2**20, 1),
                "traced_mb": round(traced / 2**20, 1),
                "sites": sites,
            },
        )
