"""Defect D (services/faust_fixes/cancelled_batches.py): Faust's ``take_events`` and ``take`` in a real
agent, stopped while the agent is busy with a batch (a SIGTERM while its records are published), with and
without the fix: is the unfinished batch acknowledged (and so committed past, never read again)?"""

from __future__ import annotations

import asyncio
import gc
import uuid
from typing import Any

import faust
import pytest

from services.faust_fixes import FIXES, installed


async def acknowledged_after_a_stop(method: str) -> tuple[list[bool], list[bool]]:
    """(the finished batch's acknowledgements, the stopped batch's) for ``stream.<method>(3, ...)``."""
    app = faust.App(f"batches-{uuid.uuid4().hex[:8]}", broker="kafka://unused:1")
    app.flow_control.resume()  # as a started worker's is
    arrived, done = asyncio.Event(), asyncio.Event()

    @app.agent()
    async def publish_slowly(stream: Any) -> None:
        async for _batch in getattr(stream, method)(3, within=30.0):
            arrived.set()
            await done.wait()  # publishing the batch's records
            done.clear()

    messages: list[list[Any]] = []
    async with publish_slowly.test_context() as agent:
        for number in range(2):
            arrived.clear()
            events = [await agent.put(value) for value in range(3)]
            await asyncio.wait_for(arrived.wait(), 5)
            for event in events:
                event.message.incref()  # the one reference a Kafka topic's conductor holds for each stream
            messages.append([event.message for event in events])
            if number == 0:
                done.set()  # the first batch was published: the agent asks for the next one
                await asyncio.sleep(0.05)
        finished, stopped = messages
        assert [m.acked for m in finished] == [True] * 3
        assert not any(m.acked for m in stopped)
    gc.collect()  # the stopped agent's batch generator is closed (its ``finally:`` runs)
    for _ in range(5):
        await asyncio.sleep(0.01)
    return [m.acked for m in finished], [m.acked for m in stopped]


@pytest.mark.parametrize("method", ["take_events", "take"])
async def test_a_batch_the_agent_was_stopped_in_is_acknowledged_and_not_with_the_fix(method: str) -> None:
    finished, stopped = await acknowledged_after_a_stop(method)
    assert (finished, stopped) == ([True] * 3, [True] * 3)  # its last commit goes past the stopped batch
    with installed(FIXES):
        finished, stopped = await acknowledged_after_a_stop(method)
    assert (finished, stopped) == ([True] * 3, [False] * 3)  # read again by the partition's next owner


async def test_records_arriving_while_the_agent_publishes_fill_the_next_batch() -> None:
    """Faust's take() read nothing while the agent held a batch: one-event-per-record traffic came in
    batches of whatever arrived within ``within`` after the agent asked (~60 records), each waiting on the
    last one's publishing. The fix reads on into the next batch, never more than ``max_`` in one."""
    with installed(FIXES):
        app = faust.App(f"batches-{uuid.uuid4().hex[:8]}", broker="kafka://unused:1")
        app.flow_control.resume()
        arrived, done = asyncio.Event(), asyncio.Event()
        read: list[int] = []
        batches: list[list[int]] = []

        def note(value: int) -> int:
            read.append(value)
            return value

        @app.agent()
        async def publish_slowly(stream: Any) -> None:
            stream.add_processor(note)  # runs as the stream reads each value, before take's own
            async for batch in stream.take_events(3, within=0.2):
                batches.append([event.value for event in batch])
                arrived.set()
                await done.wait()  # publishing the batch's records
                done.clear()

        async with publish_slowly.test_context() as agent:
            for value in range(3):
                await agent.put(value)
            await asyncio.wait_for(arrived.wait(), 5)
            for value in range(3, 8):  # five more arrive while the first batch is published
                await agent.put(value, wait=False)
            for _ in range(500):  # however slow this machine: until the reader stops (5 s at most)
                if len(read) >= 6:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            assert read == list(range(6))  # read into the next batch, which is full: the rest wait
            for _ in range(2):
                arrived.clear()
                done.set()
                await asyncio.wait_for(arrived.wait(), 5)
            assert batches == [[0, 1, 2], [3, 4, 5], [6, 7]]
            done.set()
