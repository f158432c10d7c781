"""Defect B: a commit past the record at the committed offset, when only that one is missing.

faust-streaming 0.15.3 ``Consumer._new_offset`` withholds a commit whose acknowledged offsets do not start at
the committed one only when more than one record is missing (``min(acked) - committed > 1``), and not at all
when the committed offset is 0 (``if committed_offset:``): a single record still being processed, or one
that never reached the agent, at the committed offset is committed past and lost on the next restart
(faust-streaming#606; PR #707, both open). The ``> 1`` made up for ``_add_gap`` never covering the committed
offset itself (``max(offset_from, committed + 1)``), written when a commit named the last record processed
rather than the next one due (PR #33 changed that).

The fix (docs/upstream/faust-streaming/B-head-commits.diff): no commit while the record at the committed
offset is not acknowledged; a gap may start at the committed offset (the fetch loop, ``seek_epochs``, now
records a gap as exactly the offsets a fetch jumped over). And, for an application that knows some topics
have a record at every offset (no compaction, no transactions: the scorer's touchpoints and ticks), no gap
at all on those (``declare_gapless``): a jump there is records Faust dropped on their way, never offsets
missing from the topic, so the commit waits for them instead of passing them — a restart reads them.
Copied from faust-streaming 0.15.3 (BSD-3-Clause); each change is marked ``(B)``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import TP
from faust.utils.functional import consecutive_numbers


def new_offset(self: Any, tp: TP) -> int | None:
    """How far a commit of ``tp`` may go: past the run of acknowledged (or gap) offsets that starts at the
    committed offset, or None."""
    acked = self._acked[tp]
    if acked:
        max_offset = max(acked)
        gap_for_tp = self._gap[tp]
        if gap_for_tp:
            # find all the ranges up to the max of acked, add them in to acked, and chop them off the gap.
            candidates = gap_for_tp.overlap(0, max_offset)
            sorted_candidates = sorted(candidates, key=lambda x: x.begin)
            if sorted_candidates:
                stuff_to_add: list[int] = []
                for entry in sorted_candidates:
                    stuff_to_add.extend(range(entry.begin, entry.end))
                new_max_offset = max(stuff_to_add[-1], max_offset + 1)
                acked.extend(stuff_to_add)
                gap_for_tp.chop(0, new_max_offset)
        acked.sort()
        committed_offset = self._committed_offset[tp]
        if committed_offset is not None and acked[0] > committed_offset:  # (B) the head is not acknowledged
            return None
        batch = next(consecutive_numbers(acked))
        acked[: len(batch)] = []
        self._acked_index[tp].difference_update(batch)
        return int(batch[-1]) + 1
    return None


def declare_gapless(consumer: Any, topics: set[str]) -> None:
    """``topics`` have a record at every offset: a jump in what is fetched of them is never a gap."""
    consumer._gapless_topics = frozenset(topics)


async def add_gap(self: Any, tp: TP, offset_from: int, offset_to: int) -> None:
    """Offsets ``offset_from``..``offset_to`` are not in the topic: a commit may go past them."""
    if tp.topic in getattr(self, "_gapless_topics", ()):  # (B) a record at every offset: no gap there
        self.log.warning(
            "Not a gap: %r offsets %r-%r were fetched and never handed over", tp, offset_from, offset_to
        )
        return
    committed = self._committed_offset[tp]
    gap_for_tp = self._gap[tp]
    if committed is not None:
        offset_from = max(offset_from, committed)  # (B) the committed offset is the next one due
    # intervaltree intervals exclude the end
    if offset_from <= offset_to:
        gap_for_tp.addi(offset_from, offset_to + 1)
        # sleep 0 to allow other coroutines to get some loop time
        await asyncio.sleep(0)
        gap_for_tp.merge_overlaps()
