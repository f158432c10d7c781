"""The memory diagnostic names the line whose allocations grew, with how much."""

from __future__ import annotations

import tracemalloc

from services.common.memory_watch import growth

kept: list[bytes] = []


def grow() -> None:
    kept.extend(bytes(1024) for _ in range(2_000))


def test_the_site_that_grew_most_comes_first_with_its_size_and_where_it_was_called_from() -> None:
    tracemalloc.start(4)
    try:
        first = tracemalloc.take_snapshot()
        grow()
        now = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
        kept.clear()
    top = growth(first, now)[0]
    assert top.startswith("+2.0 MB (+2,0") or top.startswith("+2.1 MB (+2,0"), top
    assert "test_memory_watch.py" in top
