"""Defect G (services/faust_fixes/fetch_snapshots.py): a fetch waiting while recovery pauses the last active
partition is handed an empty set — no filter for aiokafka — and returns the paused stream partitions'
records, which Faust drops. Run on the rig with every other fix in place, without G and then with it."""

from __future__ import annotations

import asyncio

from faust.types import TP

from services.faust_fixes import FIXES, declare_gapless, installed
from tests.unit.faust_fixes.rig import TOPIC, Broker, Worker

CHANGELOG, TP2 = TP("state-changelog", 0), TP(TOPIC, 2)


async def records_scored_after_a_recovery_with_an_idle_fetch() -> list[int]:
    """A worker restarted after its group's offsets were reset to 0: it reads a changelog (nothing left in
    it, so the fetch waits for data), pauses it when done, seeks the stream partition — whose new data wakes
    the waiting fetch — and resumes the stream partition."""
    worker = Worker(Broker(ends={CHANGELOG: 0, TP2: 30}, committed={TP2: 0}))
    worker.start(paused=True)
    worker.consumer.resume_partitions([CHANGELOG])  # recovery reads the changelog
    await asyncio.sleep(0.05)  # a fetch waits for changelog records
    worker.consumer.pause_partitions([CHANGELOG])  # done reading: every partition paused
    await worker.consumer.perform_seek()
    await asyncio.sleep(0.05)
    worker.consumer.resume_partitions([TP2])
    await worker.until_read()
    await worker.stop()
    return sorted(worker.processed)


async def test_a_fetch_waiting_when_every_partition_is_paused_loses_them_all_and_not_with_the_fix() -> None:
    with installed(tuple(fix for fix in FIXES if fix.name != "fetch_snapshots")):
        # the fetch that woke took 0-9 (one fetch's worth) for Faust to drop: never processed, and the
        # commit goes past them once 10-29 are (their offsets count as a gap: the jump 0 -> 10)
        assert await records_scored_after_a_recovery_with_an_idle_fetch() == list(range(10, 30))
    with installed(FIXES):
        assert await records_scored_after_a_recovery_with_an_idle_fetch() == list(range(30))


async def commit_after_records_dropped_on_their_way(gapless: bool) -> int | None:
    """Without G, as above: 0-9 dropped, 10-29 processed. Where may the next commit go?"""
    with installed(tuple(fix for fix in FIXES if fix.name != "fetch_snapshots")):
        worker = Worker(Broker(ends={CHANGELOG: 0, TP2: 30}, committed={TP2: 0}))
        if gapless:
            declare_gapless(worker.consumer, {TOPIC})
        worker.start(paused=True)
        worker.consumer.resume_partitions([CHANGELOG])
        await asyncio.sleep(0.05)
        worker.consumer.pause_partitions([CHANGELOG])
        await worker.consumer.perform_seek()
        await asyncio.sleep(0.05)
        worker.consumer.resume_partitions([TP2])
        await worker.until_read()
        commit = worker.commit_to(TP2)
        await worker.stop()
    return commit


async def test_on_a_topic_declared_gapless_a_jump_holds_the_commit_instead_of_passing_the_records() -> None:
    assert await commit_after_records_dropped_on_their_way(gapless=False) == 30  # 0-9 taken for a gap: lost
    assert (
        await commit_after_records_dropped_on_their_way(gapless=True) is None
    )  # held at 0: a restart reads them
