"""Defect C (services/faust_fixes/uncommitted_starts.py): Faust's ``perform_seek`` over aiokafka's
``seek_to_committed`` (as the rig plays it: a seek only ``if offset and offset > 0``), with and without the
fix, for partitions the group never committed or committed at 0, after their records were fetched."""

from __future__ import annotations

from faust.types import TP

from services.faust_fixes import FIXES, installed
from tests.unit.faust_fixes.rig import TOPIC, Broker, Worker

NEVER, AT_ZERO, AT_41 = TP(TOPIC, 0), TP(TOPIC, 1), TP(TOPIC, 2)


async def seek_after_reading_ahead() -> tuple[dict[TP, int], dict[TP, int | None], dict[TP, int | None]]:
    """The consumer read each partition up to 60 (records then dropped before the agent), then Faust seeks
    back to the committed offsets: where does each partition's reading go on from?"""
    broker = Broker(
        ends={NEVER: 60, AT_ZERO: 60, AT_41: 60},
        committed={NEVER: None, AT_ZERO: 0, AT_41: 41},
        first={NEVER: 7},  # retention deleted 0-6
    )
    worker = Worker(broker)
    broker.positions.update({NEVER: 60, AT_ZERO: 60, AT_41: 60})
    await worker.consumer.perform_seek()
    consumer = worker.consumer
    committed = {tp: consumer._committed_offset[tp] for tp in broker.ends}
    return dict(broker.positions), committed, {tp: consumer._read_offset[tp] for tp in broker.ends}


async def test_partitions_never_committed_or_committed_at_zero_are_not_sought_and_are_with_the_fix() -> None:
    positions, committed, due = await seek_after_reading_ahead()
    assert positions == {NEVER: 60, AT_ZERO: 60, AT_41: 41}  # 0-59 of two partitions never come again
    assert committed == {NEVER: None, AT_ZERO: None, AT_41: 41}  # nothing for the head check to go by
    with installed(FIXES):
        positions, committed, due = await seek_after_reading_ahead()
    # no commit: where "earliest" starts (the first retained offset); a commit at 0 is a commit
    assert positions == {NEVER: 7, AT_ZERO: 0, AT_41: 41}
    assert committed == due == {NEVER: 7, AT_ZERO: 0, AT_41: 41}


async def test_with_the_fix_the_first_commit_of_a_partition_never_committed_waits_for_its_first_record() -> (
    None
):
    with installed(FIXES):
        worker = Worker(Broker(ends={NEVER: 20}, committed={NEVER: None}))
        await worker.consumer.perform_seek()
        worker.consumer._acked[NEVER].extend([3, 4, 5])  # 0-2 not acknowledged (yet)
        assert worker.commit_to(NEVER) is None
        worker.consumer._acked[NEVER].extend([0, 1, 2])
        assert worker.commit_to(NEVER) == 6
