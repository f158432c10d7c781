"""Defect B (services/faust_fixes/head_commits.py): Faust's commit rule (``Consumer._new_offset``) with and
without the fix, on the numbers of faust-streaming#606 and on a partition committed at offset 0."""

from __future__ import annotations

import faust
from faust.types import TP

from services.faust_fixes import FIXES, installed

TP0 = TP("touchpoints", 0)


def commit_after(committed: int, acked: list[int], gap: tuple[int, int] | None = None) -> int | None:
    consumer = faust.App("head-commits", broker="kafka://unused:1").consumer
    consumer._committed_offset[TP0] = committed
    consumer._acked[TP0].extend(acked)
    consumer._acked_index[TP0].update(acked)
    if gap is not None:
        consumer._gap[TP0].addi(gap[0], gap[1] + 1)
    offset: int | None = consumer._new_offset(TP0)
    return offset


def test_a_commit_goes_past_the_one_record_at_the_committed_offset_and_not_with_the_fix() -> None:
    # faust-streaming#606: 2585 still being processed (or never received), 2586-2589 done
    assert commit_after(2585, [2586, 2587, 2588, 2589]) == 2590
    with installed(FIXES):
        assert commit_after(2585, [2586, 2587, 2588, 2589]) is None
        assert commit_after(2585, [2585, 2586, 2587, 2588, 2589]) == 2590


def test_a_partition_committed_at_zero_is_committed_past_its_first_record_and_not_with_the_fix() -> None:
    assert commit_after(0, [3, 4, 5]) == 6  # ``if committed_offset:`` skips the check at 0
    with installed(FIXES):
        assert commit_after(0, [3, 4, 5]) is None


def test_with_the_fix_a_gap_that_starts_at_the_committed_offset_is_committed_past() -> None:
    with installed(FIXES):
        assert commit_after(10, [12, 13], gap=(10, 11)) == 14
        assert commit_after(10, [13], gap=(11, 12)) is None  # 10 itself neither acknowledged nor a gap


async def test_with_the_fix_a_gap_may_start_at_the_committed_offset() -> None:
    with installed(FIXES):
        consumer = faust.App("add-gap", broker="kafka://unused:1").consumer
        consumer._committed_offset[TP0] = 10
        await consumer._add_gap(TP0, 10, 11)
        assert [(i.begin, i.end) for i in consumer._gap[TP0]] == [(10, 12)]
    consumer = faust.App("add-gap-stock", broker="kafka://unused:1").consumer
    consumer._committed_offset[TP0] = 10
    await consumer._add_gap(TP0, 10, 11)
    assert [(i.begin, i.end) for i in consumer._gap[TP0]] == [(11, 12)]  # Faust's: never the committed one
