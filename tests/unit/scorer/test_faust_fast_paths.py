"""Faust's per-record waits cut where a record needs none (services/scorer/faust_fast_paths.py): every
fast path gives the outcome Faust's own path gives — a record handed over, a callback stuck on a full queue
cancelled when the flow is suspended, a changelog record taken, a timeout, whether recovery is needed."""

from __future__ import annotations

import asyncio
import random
import warnings
from collections import Counter
from typing import Any

import pytest
from faust.types import TP
from mode import Service

from services.scorer import faust_fast_paths
from services.scorer.faust_fast_paths import FAUSTS_NEED_RECOVERY, _need_recovery, _wait_first, _wait_for

WAIT_FIRSTS = {"faust's": Service.wait_first, "fast": _wait_first}


async def handed_over(log: list[str], value: int) -> int:
    """A callback that needs no waiting (a record put on a queue with room)."""
    log.append(f"handed over {value}")
    return value


async def stuck_on(queue: asyncio.Queue[int], log: list[str], value: int) -> int:
    """A callback that waits for room on a full queue, as the conductor's does when a stream lags."""
    log.append("started")
    try:
        await queue.put(value)
    except asyncio.CancelledError:
        log.append("cancelled")
        raise
    log.append(f"put {value}")
    return value


@pytest.mark.parametrize("wait_first", WAIT_FIRSTS.values(), ids=WAIT_FIRSTS.keys())
async def test_a_callback_that_needs_no_waiting_wins_with_its_result(wait_first: Any) -> None:
    consumer, suspended, log = Service(), asyncio.Event(), []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a coroutine left never awaited would warn
        result = await wait_first(consumer, handed_over(log, 7), suspended.wait())
    assert (result.done, result.results, result.stopped) == ([result.done[0]], [7], False)
    assert log == ["handed over 7"]


@pytest.mark.parametrize("wait_first", WAIT_FIRSTS.values(), ids=WAIT_FIRSTS.keys())
async def test_a_callback_that_waits_completes_when_the_queue_has_room(wait_first: Any) -> None:
    consumer, suspended, log = Service(), asyncio.Event(), []
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    queue.put_nowait(0)
    waiting = asyncio.create_task(wait_first(consumer, stuck_on(queue, log, 5), suspended.wait()))
    await asyncio.sleep(0.01)
    assert log == ["started"] and not waiting.done()
    assert queue.get_nowait() == 0  # room: the callback carries on where it stopped
    result = await asyncio.wait_for(waiting, 5)
    assert result.results == [5] and not result.stopped
    assert log == ["started", "put 5"] and queue.get_nowait() == 5


@pytest.mark.parametrize("wait_first", WAIT_FIRSTS.values(), ids=WAIT_FIRSTS.keys())
async def test_a_suspended_flow_cancels_a_callback_stuck_on_a_full_queue(wait_first: Any) -> None:
    consumer, suspended, log = Service(), asyncio.Event(), []
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
    queue.put_nowait(0)
    suspend = suspended.wait()
    waiting = asyncio.create_task(wait_first(consumer, stuck_on(queue, log, 5), suspend))
    await asyncio.sleep(0.01)
    suspended.set()
    result = await asyncio.wait_for(waiting, 5)
    assert result.done == [suspend] and not result.stopped
    await asyncio.sleep(0.01)  # the cancelled callback's task has run its handler
    assert log == ["started", "cancelled"] and queue.qsize() == 1


@pytest.mark.parametrize("wait_first", WAIT_FIRSTS.values(), ids=WAIT_FIRSTS.keys())
async def test_a_stopped_consumer_reports_stopped_after_handing_the_record_over(wait_first: Any) -> None:
    consumer, suspended, log = Service(), asyncio.Event(), []
    consumer._stopped.set()
    result = await wait_first(consumer, handed_over(log, 3), suspended.wait())
    assert (result.done, result.results, result.stopped) == ([], [], True)
    assert log == ["handed over 3"]


@pytest.mark.parametrize("wait_first", WAIT_FIRSTS.values(), ids=WAIT_FIRSTS.keys())
async def test_a_callback_that_fails_at_once_raises_its_error(wait_first: Any) -> None:
    async def fails() -> None:
        raise LookupError("no callback for this partition")

    with pytest.raises(LookupError, match="no callback"):
        await wait_first(Service(), fails(), asyncio.Event().wait())


async def test_a_changelog_record_on_the_queue_is_taken_without_waiting() -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    queue.put_nowait("record")
    tasks_before = len(asyncio.all_tasks())
    taken = await _wait_for(queue.get(), timeout=5.0)
    assert taken == "record" and len(asyncio.all_tasks()) == tasks_before


async def test_an_empty_changelog_queue_times_out_as_asyncio_wait_for_does() -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    with pytest.raises(asyncio.TimeoutError):
        await _wait_for(queue.get(), timeout=0.05)
    queue.put_nowait("later")  # the timed-out get was cancelled: it took nothing
    assert queue.get_nowait() == "later"


async def test_a_changelog_record_that_arrives_while_waiting_is_taken() -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()
    asyncio.get_running_loop().call_later(0.02, queue.put_nowait, "arrived")
    assert await _wait_for(queue.get(), timeout=5.0) == "arrived"


class Recovering:
    """What need_recovery reads of Faust's Recovery: highwaters and offsets of the active partitions."""

    active_remaining = faust_fast_paths.faust.tables.recovery.Recovery.active_remaining

    def __init__(self, highwaters: dict[TP, int | None], offsets: Counter[TP]) -> None:
        self.active_highwaters = highwaters
        self.active_offsets = offsets


def test_recovery_is_needed_exactly_when_faust_says_so() -> None:
    rng = random.Random(19)
    answers = Counter()
    for _ in range(3000):
        tps = [TP(f"changelog-{t}", p) for t in range(rng.randint(0, 3)) for p in range(rng.randint(1, 4))]
        highwaters = {tp: rng.choice([None, -1, 0, 5, 10]) for tp in tps}
        offsets: Counter[TP] = Counter()
        for tp in tps:
            if rng.random() < 0.8:  # the rest never read: a Counter answers 0
                offsets[tp] = rng.choice([None, -1, 0, 5, 10, 11])
        recovering = Recovering(highwaters, offsets)
        expected = FAUSTS_NEED_RECOVERY(recovering)
        assert _need_recovery(recovering) == expected, (highwaters, offsets)
        answers[expected] += 1
    assert answers[True] > 500 and answers[False] > 500  # both answers were tried


def test_the_fast_paths_find_the_faust_code_they_lean_on() -> None:
    assert faust_fast_paths.check_fast_paths() == []
