"""Defect C: a partition the group never committed (or committed at 0) is not sought at all.

aiokafka 0.14 ``AIOKafkaConsumer.seek_to_committed`` seeks a partition only ``if offset and offset > 0``
(aiokafka#1003, open): one with no commit, or a commit at offset 0, stays wherever the consumer is — after a
rebalance, past records fetched and dropped before the agent had them. faust-streaming 0.15.3's
``Consumer.perform_seek`` then records no committed offset for either (``offset if offset else None``), so its
head check (defect B) has nothing to check against and the first commit may go past them.

The fix (docs/upstream/aiokafka/C-seek-to-committed.diff, docs/upstream/faust-streaming/C-perform-seek.diff):
every stream partition goes to where the group reads it from — its commit, 0 included, or, with none, the
``consumer_auto_offset_reset`` position (the first retained offset for "earliest") — and that is recorded
as its committed offset and its next offset due. Changelog partitions stay as recovery left them.
Copied from faust-streaming 0.15.3 (BSD-3-Clause); each change is marked ``(C)``.
"""

from __future__ import annotations

from typing import Any

from faust.transport.consumer import ensure_TP
from faust.types import TP

from services.faust_fixes.seek_epochs import forget_acknowledged, moved


async def perform_seek(self: Any) -> None:
    """Seek all partitions to their current committed position."""
    read_offset = self._read_offset
    assigned = self.assignment()
    moved(self, assigned)  # (A) whatever was fetched before this seek is stale
    _committed_offsets = await self.seek_to_committed()  # aiokafka: only where a commit is > 0
    committed = {ensure_TP(tp): offset for tp, offset in _committed_offsets.items()}
    streams = {tp: offset for tp, offset in committed.items() if not self._is_changelog_tp(tp)}
    at_zero = {tp: 0 for tp, offset in streams.items() if offset == 0}
    if at_zero:  # (C) a commit at 0 is a commit (sought in the consumer's own thread, as recovery seeks)
        await self.seek_wait(at_zero)
    never = [tp for tp, offset in streams.items() if offset is None or offset < 0]
    starts = await reading_starts(self, never) if never else {}  # (C) no commit: auto_offset_reset
    moved(self, assigned)  # (A)
    forget_acknowledged(self, streams)  # (F) all of it comes again from the committed offset
    for tp, offset in committed.items():
        if tp in streams:  # (C) where the group's reading starts: its commit, or where it was reset to
            start = starts.get(tp, offset)
            read_offset[tp] = start
            self._committed_offset[tp] = start
        else:
            read_offset[tp] = offset if offset is not None and offset >= 0 else None
            if offset is not None:
                self._committed_offset[tp] = offset if offset else None


async def reading_starts(self: Any, tps: list[TP]) -> dict[TP, int | None]:
    """Seek partitions that have no commit to the ``consumer_auto_offset_reset`` position: the first
    retained offset ("earliest") or the end ("latest"); where each now starts."""
    if self.app.conf.consumer_auto_offset_reset == "latest":
        positions = await self.highwaters(*tps)
    else:
        positions = await self.earliest_offsets(*tps)
    starts: dict[TP, int | None] = {tp: positions.get(tp) for tp in tps}
    known = {tp: offset for tp, offset in starts.items() if offset is not None}
    if known:
        await self.seek_wait(known)
    return starts
