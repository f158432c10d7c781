"""Defect A (services/faust_fixes/seek_epochs.py): records fetched around recovery's seek to the committed
offsets. Each test runs Faust's own code twice on the same pretend broker (tests/unit/faust_fixes/rig.py):
as released, where the defect shows, and with the fix, where it does not."""

from __future__ import annotations

import asyncio

import faust.streams
import pytest
from faust.types import TP

from services.faust_fixes import FIXES, installed
from tests.unit.faust_fixes.rig import TOPIC, Broker, Worker

TP2 = TP(TOPIC, 2)


async def records_doubled_by_a_slow_seek() -> tuple[list[int], list[int], int | None]:
    """A worker handed a partition at committed offset 45, records up to 80 waiting: recovery resumes the
    partition, then asks for the committed offsets (a round trip per partition) and seeks there."""
    worker = Worker(Broker(ends={TP2: 80}, committed={TP2: 45}, round_trip_s=0.05))
    worker.start(paused=True)
    await worker.recovery_completed()
    await worker.until_read()
    lost, doubled = worker.lost_and_doubled(range(45, 80))
    commit = worker.commit_to(TP2)
    await worker.stop()
    return lost, doubled, commit


async def test_records_read_while_recovery_seeks_reach_the_agent_twice_and_once_with_the_fix() -> None:
    lost, doubled, commit = await records_doubled_by_a_slow_seek()
    assert (lost, doubled) == ([], list(range(45, 80)))  # read before the seek, then again from 45
    with installed(FIXES):
        lost, doubled, commit = await records_doubled_by_a_slow_seek()
    assert (lost, doubled, commit) == ([], [], 80)  # sought while paused: read once, committed to the end


async def rolling_restart_signature() -> tuple[list[int], list[int], int | None]:
    """The five events lost in a rolling restart (docs/reliability.md, "Root causes"): committed 45; the
    records 45-49 are fetched and wait on the agent's queue (the agent is busy); the next fetch, 50-54, is
    on its way from aiokafka's thread when the seek lands; recovery then clears the queues."""
    broker = Broker(ends={TP2: 60}, committed={TP2: 45}, fetch_size=5, in_transit_during_seek=2)
    busy = asyncio.Event()
    busy.set()
    worker = Worker(broker, buffer=8, busy=busy)
    worker.start(paused=True)
    await worker.recovery_completed()
    busy.clear()
    await worker.until_read()
    lost, doubled = worker.lost_and_doubled(range(45, 60))
    commit = worker.commit_to(TP2)
    await worker.stop()
    return lost, doubled, commit


async def test_a_batch_fetched_before_the_seek_loses_the_records_before_it_and_commits_past_them() -> None:
    lost, doubled, commit = await rolling_restart_signature()
    assert lost == [45, 46, 47, 48, 49]  # cleared from the queue; their copies dropped as already read
    assert commit is not None and commit > 45  # the jump 45 -> 50 taken for a gap: committed past them
    with installed(FIXES):
        lost, doubled, commit = await rolling_restart_signature()
    assert (lost, doubled, commit) == ([], [], 60)


async def test_offsets_missing_from_the_topic_are_a_gap_from_the_committed_offset_itself() -> None:
    """Compaction and transaction markers leave offsets out, the committed one included: the fix records
    exactly the offsets a fetch jumped over as a gap and commits past them, as Faust means to."""
    with installed(FIXES):
        worker = Worker(Broker(ends={TP2: 30}, committed={TP2: 10}, missing={10, 11, 20}))
        worker.start(paused=True)
        await worker.recovery_completed()
        await worker.until_read()
        assert worker.processed == [o for o in range(10, 30) if o not in {10, 11, 20}]
        assert worker.commit_to(TP2) == 30
        await worker.stop()


async def test_a_record_skipped_as_of_an_older_generation_is_acknowledged_though_never_processed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Defect F, its first half, in Faust's own stream: a record delivered in one consumer generation and
    taken off the stream's queue in the next is skipped (it will be fetched again) — and acknowledged, by
    Faust's pure-Python stream iterator (what runs without its Cython extension: PyPy, a build without a
    compiler). Its Cython iterator does not acknowledge it."""
    monkeypatch.setattr(faust.streams, "_CStreamIterator", None)
    worker = Worker(Broker(ends={TP2: 10}, committed={TP2: 0}))
    busy = asyncio.Event()
    busy.set()
    worker.busy = busy
    worker.start(paused=False)
    await asyncio.sleep(0.05)  # records 0-3 fetched and waiting on the agent's queue (its buffer is 4)
    worker.app.consumer_generation_id += 1  # a rebalance
    busy.clear()
    await asyncio.sleep(0.2)
    await worker.stop()
    acknowledged = worker.consumer._acked[TP2]
    assert worker.processed == [] and acknowledged[:4] == [0, 1, 2, 3]


async def commit_after_a_rebalance_with_stale_acknowledgements() -> int | None:
    """Defect F, its second half: those acknowledgements outlive recovery's seek back to the committed
    offset; once 45-49 are processed again, the next commit goes past 50-54, still on their way."""
    worker = Worker(Broker(ends={TP2: 60}, committed={TP2: 45}))
    worker.consumer._acked[TP2].extend(range(50, 55))  # skipped as of the older generation
    worker.consumer._acked_index[TP2].update(range(50, 55))
    await worker.consumer.perform_seek()
    for offset in range(45, 50):
        worker.consumer._acked[TP2].append(offset)
        worker.consumer._acked_index[TP2].add(offset)
    return worker.commit_to(TP2)


async def test_acknowledgements_from_before_a_seek_let_a_commit_pass_records_not_processed_again() -> None:
    assert await commit_after_a_rebalance_with_stale_acknowledgements() == 55
    with installed(FIXES):
        assert await commit_after_a_rebalance_with_stale_acknowledgements() == 50
