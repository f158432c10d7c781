"""The inbox (services/faust_fixes/inbox.py): the scorer's input records go from Faust's fetch loop to the
agent in whole batches, past the conductor and the stream — and every guarantee of Faust's path with the
fixes (tests/unit/faust_fixes/test_seek_epochs.py, test_cancelled_batches.py) holds on it: each record
reaches the agent once, a commit never passes a record the agent did not finish, a rebalance drops what
waits and waits for what the agent holds. Faust's own fetch loop, recovery and commit rules run on the rig's
pretend broker (tests/unit/faust_fixes/rig.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import faust
from faust.types import TP
from faust.types.tuples import ConsumerMessage
from hypothesis import given, settings
from hypothesis import strategies as st

from services.faust_fixes import FIXES, installed
from services.faust_fixes.inbox import acknowledge
from tests.unit.faust_fixes.rig import TOPIC, Broker, Worker

TP2 = TP(TOPIC, 2)


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait until ``condition()`` holds (a slow machine takes longer: never a fixed sleep)."""
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the rig did not get there in time")


async def test_records_reach_the_agent_in_batches_never_through_the_conductor() -> None:
    with installed(FIXES):
        worker = Worker(Broker(ends={TP2: 200}, committed={TP2: 0}), buffer=64, batch=50, inbox=True)
        worker.start(paused=False)
        await worker.until_read()
        await worker.stop()
    assert worker.processed == list(range(200)) and worker.delivered == 0
    assert max(len(batch) for batch in worker.batches) == 50  # read on while the agent held a batch
    assert worker.commit_to(TP2) == 200


async def test_a_slow_recovery_seek_reads_each_record_once() -> None:
    """As test_seek_epochs' first: recovery resumes a partition committed at 45, records to 80 waiting."""
    with installed(FIXES):
        worker = Worker(Broker(ends={TP2: 80}, committed={TP2: 45}, round_trip_s=0.05), inbox=True)
        worker.start(paused=True)
        await worker.recovery_completed()
        await worker.until_read()
        await worker.stop()
    assert worker.lost_and_doubled(range(45, 80)) == ([], [])
    assert worker.commit_to(TP2) == 80


async def test_a_fetch_under_way_during_the_seek_loses_and_doubles_nothing() -> None:
    """As test_seek_epochs' rolling restart: 45-49 wait while the agent is busy, 50-54 are on their way
    from aiokafka's thread when the seek lands, and recovery then clears what waits."""
    broker = Broker(ends={TP2: 60}, committed={TP2: 45}, fetch_size=5, in_transit_during_seek=2)
    busy = asyncio.Event()
    busy.set()
    with installed(FIXES):
        worker = Worker(broker, buffer=8, busy=busy, inbox=True)
        worker.start(paused=True)
        await worker.recovery_completed()
        busy.clear()
        await worker.until_read()
        await worker.stop()
    assert worker.lost_and_doubled(range(45, 60)) == ([], [])
    assert worker.commit_to(TP2) == 60


async def test_a_batch_the_agent_never_finished_is_not_acknowledged() -> None:
    """Defect D on the inbox: the agent stops (a SIGTERM) while it publishes a batch's results."""
    with installed(FIXES):
        worker = Worker(Broker(ends={TP2: 30}, committed={TP2: 0}), buffer=30, batch=10, inbox=True)
        worker.fold_s = 10.0  # the first batch is never finished
        worker.start(paused=False)
        await until(lambda: bool(worker.batches) and worker.inbox is not None and len(worker.inbox) == 20)
        await worker.stop()
        await worker.source.aclose()  # as Faust's Stream.on_stop closes the stream's generators
    assert worker.batches == [list(range(10))]
    assert worker.commit_to(TP2) is None and not worker.consumer._acked[TP2]


async def test_a_revocation_drops_what_waits_and_waits_for_the_batch_the_agent_holds() -> None:
    """Faust's revocation: the flow suspended, its queues cleared, then it waits until every record handed
    out is acknowledged. What waited comes again from the committed offset: never acknowledged."""
    with installed(FIXES):
        worker = Worker(Broker(ends={TP2: 30}, committed={TP2: 0}), buffer=30, batch=10, inbox=True)
        worker.fold_s = 0.2
        worker.start(paused=False)
        inbox = worker.inbox
        assert inbox is not None
        await until(lambda: bool(worker.batches) and len(inbox) == 20)  # the agent holds 0-9, 10-29 wait
        app = worker.app
        app.consumer.stop_flow()
        app.flow_control.suspend()
        app.flow_control.clear()
        assert len(inbox) == 0 and {m.offset for m in app.consumer._unacked_messages} == set(range(10))
        # what Faust's wait_empty() waits for: the agent finished 0-9 and asked for more
        await until(lambda: not app.consumer._unacked_messages)
        await worker.stop()
    assert worker.processed == list(range(10))
    assert worker.commit_to(TP2) == 10


async def test_records_of_an_older_generation_are_not_handed_out_they_come_again_from_the_seek() -> None:
    """Fetched before a rebalance and still waiting after it: the rebalance's seek reads them again, so the
    waiting copies are dropped, unacknowledged (defect F's concern) — each record is folded once."""
    busy = asyncio.Event()
    busy.set()
    with installed(FIXES):
        broker = Broker(ends={TP2: 10}, committed={TP2: 0}, fetch_size=4)
        worker = Worker(broker, buffer=4, busy=busy, inbox=True)
        worker.start(paused=True)
        await worker.recovery_completed()  # sought to the committed offset, 0
        inbox = worker.inbox
        assert inbox is not None
        # 0-3 wait (room for 4); 4-7 fetched, the loop waits for room
        await until(lambda: worker.consumer._read_offset[TP2] == 4)
        assert [message.offset for message in inbox._waiting] == [0, 1, 2, 3]
        worker.app.consumer_generation_id += 1  # a rebalance, and its seek to the committed offset
        await worker.consumer.seek(TP2, 0)
        busy.clear()
        await worker.until_read()
        await worker.stop()
    assert worker.lost_and_doubled(range(10)) == ([], [])
    assert worker.commit_to(TP2) == 10


async def test_the_fetch_loop_waits_for_room_and_a_suspended_flow_ends_the_wait() -> None:
    busy = asyncio.Event()
    busy.set()
    with installed(FIXES):
        worker = Worker(Broker(ends={TP2: 20}, committed={TP2: 0}), buffer=4, busy=busy, inbox=True)
        worker.start(paused=False)
        await until(lambda: worker.consumer._read_offset[TP2] == 4)
        await asyncio.sleep(0.05)
        assert worker.inbox is not None and len(worker.inbox) == 4  # the fetch loop waits on the fifth
        assert worker.consumer._read_offset[TP2] == 4
        worker.consumer.stop_flow()  # a rebalance: the wait ends, the fifth not counted as read
        worker.app.flow_control.suspend()
        worker.app.flow_control.clear()
        await asyncio.sleep(0.05)
        assert worker.consumer._read_offset[TP2] == 4 and len(worker.inbox) == 0  # nothing taken meanwhile
        await worker.stop()


def _consumer_with(messages: list[tuple[str, int, int, bool]]) -> tuple[Any, list[Any]]:
    """A Faust consumer (of its own app) with ``messages`` (topic, partition, offset, acked) in flight,
    partition 1 committed at 5; only TOPIC has acknowledgements enabled."""
    app = faust.App(f"acks-{uuid.uuid4().hex[:8]}", broker="kafka://unused:1")
    consumer = app.consumer
    app.topics._acking_topics.add(TOPIC)
    consumer._committed_offset[TP(TOPIC, 1)] = 5
    made = []
    for topic, partition, offset, acked in messages:
        message = ConsumerMessage(topic, partition, offset, 0.0, 0, [], b"k", b"v", None, 1, 1)
        message.acked = acked
        consumer._unacked_messages.add(message)
        made.append(message)
    return consumer, made


@given(
    st.lists(
        st.tuples(st.sampled_from([TOPIC, "other"]), st.integers(0, 1), st.integers(0, 12), st.booleans()),
        max_size=30,
    )
)
@settings(max_examples=200, deadline=None)
def test_a_batch_is_acknowledged_as_faust_acknowledges_each_of_its_messages(
    messages: list[tuple[str, int, int, bool]],
) -> None:
    """The inbox's ``acknowledge`` against Faust's ``Consumer.ack`` message by message: repeats, offsets
    below the committed one, topics without acknowledgements, messages already acknowledged."""
    faust_consumer, faust_messages = _consumer_with(messages)
    for message in faust_messages:
        faust_consumer.ack(message)
    consumer, batch = _consumer_with(messages)
    acknowledge(consumer, batch)
    assert consumer._acked == faust_consumer._acked
    assert consumer._acked_index == faust_consumer._acked_index
    assert consumer._n_acked == faust_consumer._n_acked
    assert [m.acked for m in batch] == [m.acked for m in faust_messages]
    assert sorted((m.topic, m.partition, m.offset) for m in consumer._unacked_messages) == sorted(
        (m.topic, m.partition, m.offset) for m in faust_consumer._unacked_messages
    )


async def test_a_fetch_reaches_the_inbox_a_partition_at_a_time() -> None:
    """services/faust_fixes/fetch_by_partition.py: the records of a fetch go into the inbox in one step per
    partition where it has room (counted: the inbox's one-record ``offer`` is not used for them)."""
    offers = 0
    with installed(FIXES):
        worker = Worker(
            Broker(ends={TP2: 100}, committed={TP2: 0}, fetch_size=10), buffer=64, batch=50, inbox=True
        )
        inbox = worker.inbox
        assert inbox is not None
        offer = inbox.offer

        def counted(message: Any) -> bool:
            nonlocal offers
            offers += 1
            return offer(message)

        inbox.offer = counted  # type: ignore[method-assign]
        worker.start(paused=False)
        await worker.until_read()
        await worker.stop()
    assert worker.processed == list(range(100))
    assert offers < 20  # one record at a time only when the inbox was full (64 of room, 10 a fetch)
    assert worker.commit_to(TP2) == 100


async def test_offsets_missing_from_a_fetch_are_gaps_the_commit_goes_past() -> None:
    """Offsets not in the log (compaction, transaction markers) between the records of one fetch: each
    jump is recorded as a gap, so the commit goes to the end once every record is processed."""
    broker = Broker(ends={TP2: 40}, committed={TP2: 0}, fetch_size=10, missing={3, 4, 12, 25, 26, 27})
    with installed(FIXES):
        worker = Worker(broker, buffer=64, batch=50, inbox=True)
        worker.start(paused=False)
        await worker.until_read()
        await worker.stop()
    assert worker.processed == [o for o in range(40) if o not in broker.missing]
    assert worker.commit_to(TP2) == 40


async def test_records_below_the_read_offset_are_dropped() -> None:
    """Records from before where a seek put the partition (the read offset: 45) that still come in a fetch
    (aiokafka's position 40): 40-44 are dropped, 45-59 handed over once."""
    broker = Broker(ends={TP2: 60}, committed={TP2: 0}, positions={TP2: 40}, fetch_size=10)
    with installed(FIXES):
        worker = Worker(broker, buffer=64, batch=50, inbox=True)
        worker.consumer._read_offset[TP2] = 45
        worker.start(paused=False)
        await worker.until_read()
        await worker.stop()
    assert worker.processed == list(range(45, 60))
