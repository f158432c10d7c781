"""Defect G: a fetch under way when the last active partition is paused returns every partition's records.

faust-streaming 0.15.3 ``Consumer._wait_next_records`` hands aiokafka its live set of active partitions, the
same object ``pause_partitions`` and ``resume_partitions`` change. aiokafka's ``fetched_records(partitions)``
takes the set as a filter each time it wakes (``if partitions and tp not in partitions: continue``) — and an
empty set filters nothing. Recovery pauses the changelog partitions it has read while the stream partitions
are still paused: a fetch waiting meanwhile wakes (a seek brings new data) with an empty set and returns the
paused stream partitions' records, moving aiokafka's positions past them, and Faust's ``getmany`` drops them
(not active). Nothing brings them back unless a seek comes after — and recovery's seek may already have
happened: a restarted worker then consumes nothing of those partitions (the "records fetched and never
scored" stall of docs/reliability.md, its root cause).

The fix (docs/upstream/faust-streaming/G-fetch-snapshots.diff): each fetch gets a copy of the active
partitions as they are when it starts; a partition resumed meanwhile is fetched by the next one. Copied from
faust-streaming 0.15.3 (BSD-3-Clause); the change is marked ``(G)``.
"""

from __future__ import annotations

from typing import Any

from faust.types import TP


async def wait_next_records(self: Any, timeout: float) -> tuple[Any, set[TP] | None]:  # noqa: ASYNC109
    if not self.flow_active:
        await self.wait(self.can_resume_flow)
    try:
        # Set signal that _wait_next_records is waiting on the fetcher service.
        self.not_waiting_next_records.set()
        is_client_only = self.app.client_only
        active_partitions: set[TP] | None = None if is_client_only else self._get_active_partitions()
        records: Any = {}
        if is_client_only or active_partitions:
            # (G) a snapshot: the live set may be emptied while aiokafka waits, and an empty set is no filter
            snapshot = None if active_partitions is None else set(active_partitions)
            records = await self._getmany(active_partitions=snapshot, timeout=timeout)
        else:
            # We should still release to the event loop
            await self.sleep(1)
        return records, active_partitions
    finally:
        self.not_waiting_next_records.set()
