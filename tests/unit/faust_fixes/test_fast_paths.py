"""Faust's per-record waits cut where a record needs none (services/faust_fixes/fast_paths.py): each fast path
gives the outcome Faust's own path gives — a record handed over, a delivery stuck on a full queue cancelled
when the flow is suspended, a changelog record taken, a timeout, whether recovery is needed — and does it
without the tasks Faust's path makes per record (counted, not timed)."""

from __future__ import annotations

import asyncio
import gc
import random
from collections import Counter
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import faust.tables.recovery
import pytest
from faust.types import TP
from mode import Service

from services.faust_fixes.fast_paths import hand_over, need_recovery, wait_for

FAUSTS_NEED_RECOVERY = faust.tables.recovery.Recovery.__dict__["need_recovery"]


class Consumer(Service):
    """What a hand-over needs of Faust's consumer: its wait_first and its suspend_flow event."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = asyncio.Event()


async def fausts_hand_over(consumer: Any, delivery: Coroutine[Any, Any, Any]) -> bool:
    """What faust-streaming 0.15.3's fetch loop does per record."""
    outcome = await consumer.wait_first(delivery, consumer.suspend_flow.wait())
    return delivery in outcome.done


HAND_OVERS = {"faust's": fausts_hand_over, "fast": hand_over}


async def handed_over(log: list[str], value: int) -> int:
    """A delivery that needs no waiting (a record put on a queue with room)."""
    log.append(f"handed over {value}")
    return value


async def stuck_on(queue: asyncio.Queue[int], log: list[str], value: int) -> int:
    """A delivery that waits for room on a full queue, as the conductor's does when a stream lags."""
    log.append("started")
    try:
        await queue.put(value)
    except asyncio.CancelledError:
        log.append("cancelled")
        raise
    log.append(f"put {value}")
    return value


@contextmanager
def counting_tasks() -> Iterator[list[Any]]:
    """Every task created on the running loop meanwhile."""
    loop = asyncio.get_running_loop()
    made: list[Any] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)  # type: ignore[arg-type]
    try:
        yield made
    finally:
        loop.set_task_factory(None)


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("hand", HAND_OVERS.values(), ids=HAND_OVERS.keys())
async def test_a_delivery_that_needs_no_waiting_is_handed_over(hand: Any) -> None:
    consumer, log = Consumer(), []
    assert await hand(consumer, handed_over(log, 7)) is True
    gc.collect()  # a coroutine left never awaited would warn here, and the filter makes that an error
    assert log == ["handed over 7"]


async def test_a_record_handed_over_at_once_costs_no_task_where_fausts_path_costs_four() -> None:
    consumer, log = Consumer(), []
    with counting_tasks() as made:
        await fausts_hand_over(consumer, handed_over(log, 1))
    assert len(made) == 4  # the delivery, the suspend wait, the stopped and the crashed events
    with counting_tasks() as made:
        await hand_over(consumer, handed_over(log, 2))
    assert made == []


@pytest.mark.parametrize("hand", HAND_OVERS.values(), ids=HAND_OVERS.keys())
async def test_a_delivery_that_waits_completes_when_the_queue_has_room(hand: Any) -> None:
    consumer, log = Consumer(), []
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    queue.put_nowait(0)
    waiting = asyncio.create_task(hand(consumer, stuck_on(queue, log, 5)))
    await asyncio.sleep(0.01)
    assert log == ["started"] and not waiting.done()
    assert queue.get_nowait() == 0  # room: the delivery carries on where it stopped
    assert await asyncio.wait_for(waiting, 5) is True
    assert log == ["started", "put 5"] and queue.get_nowait() == 5


@pytest.mark.parametrize("hand", HAND_OVERS.values(), ids=HAND_OVERS.keys())
async def test_a_suspended_flow_cancels_a_delivery_stuck_on_a_full_queue(hand: Any) -> None:
    consumer, log = Consumer(), []
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    queue.put_nowait(0)
    waiting = asyncio.create_task(hand(consumer, stuck_on(queue, log, 5)))
    await asyncio.sleep(0.01)
    consumer.suspend_flow.set()
    assert await asyncio.wait_for(waiting, 5) is False
    await asyncio.sleep(0.01)  # the cancelled delivery's task has run its handler
    assert log == ["started", "cancelled"] and queue.qsize() == 1


@pytest.mark.parametrize("hand", HAND_OVERS.values(), ids=HAND_OVERS.keys())
async def test_a_delivery_that_fails_at_once_raises_its_error(hand: Any) -> None:
    async def fails() -> None:
        raise LookupError("no callback for this partition")

    with pytest.raises(LookupError, match="no callback"):
        await hand(Consumer(), fails())


async def test_a_changelog_record_on_the_queue_is_taken_without_a_task() -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    queue.put_nowait("record")
    with counting_tasks() as made:
        assert await asyncio.wait_for(queue.get(), timeout=5.0) == "record"
    assert len(made) == 1  # asyncio's wait_for: a task per record
    queue.put_nowait("record")
    with counting_tasks() as made:
        assert await wait_for(queue.get(), timeout=5.0) == "record"
    assert made == []


async def test_an_empty_changelog_queue_times_out_as_asyncio_wait_for_does() -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    with pytest.raises(asyncio.TimeoutError):
        await wait_for(queue.get(), timeout=0.05)
    queue.put_nowait("later")  # the timed-out get was cancelled: it took nothing
    assert queue.get_nowait() == "later"


async def test_a_changelog_record_that_arrives_while_waiting_is_taken() -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    asyncio.get_running_loop().call_later(0.02, queue.put_nowait, "arrived")
    assert await wait_for(queue.get(), timeout=5.0) == "arrived"


class Recovering:
    """What need_recovery reads of Faust's Recovery: highwaters and offsets of the active partitions."""

    active_remaining = faust.tables.recovery.Recovery.active_remaining

    def __init__(self, highwaters: dict[TP, int | None], offsets: Counter[TP]) -> None:
        self.active_highwaters = highwaters
        self.active_offsets = offsets


class CountingOffsets(Counter[TP]):
    looked_up = 0

    def __getitem__(self, tp: TP) -> int:
        CountingOffsets.looked_up += 1
        return super().__getitem__(tp)


def test_recovery_is_needed_exactly_when_faust_says_so() -> None:
    rng = random.Random(19)
    answers: Counter[bool] = Counter()
    for _ in range(3000):
        tps = [TP(f"changelog-{t}", p) for t in range(rng.randint(0, 3)) for p in range(rng.randint(1, 4))]
        highwaters = {tp: rng.choice([None, -1, 0, 5, 10]) for tp in tps}
        offsets: Counter[TP] = Counter()
        for tp in tps:
            if rng.random() < 0.8:  # the rest never read: a Counter answers 0
                offsets[tp] = rng.choice([None, -1, 0, 5, 10, 11])
        recovering = Recovering(highwaters, offsets)
        expected = FAUSTS_NEED_RECOVERY(recovering)
        assert need_recovery(recovering) == expected, (highwaters, offsets)
        answers[expected] += 1
    assert answers[True] > 500 and answers[False] > 500  # both answers were tried


def test_recovery_stops_looking_at_the_first_partition_with_records_left() -> None:
    tps = [TP("changelog", p) for p in range(32)]
    offsets = CountingOffsets({tp: 0 for tp in tps})
    recovering = Recovering({tp: 10 for tp in tps}, offsets)
    CountingOffsets.looked_up = 0
    assert FAUSTS_NEED_RECOVERY(recovering)
    assert CountingOffsets.looked_up >= 32  # Faust's: every partition (twice), after every changelog record
    CountingOffsets.looked_up = 0
    assert need_recovery(recovering)
    assert CountingOffsets.looked_up == 1
