"""The scorer's input records handed from Faust's fetch loop to the agent in whole batches (not a defect: a
speed-up; docs/performance.md, "Past Faust's per-record path").

Faust takes every record through its per-record path: the conductor decodes it into an event and puts it on
each subscribed stream's queue, and the stream's iterator takes it off, sets it as the current event, runs
the stream's processors (``take`` collects it into a batch) and calls four sensors — ~100 µs a record here,
more than the compiled fold of the record. One event per record (what third-party producers send) paid it
per event.

An ``Inbox`` takes the records of the topics it is given (the scorer's inputs) straight from the fetch loop
(``seek_epochs.drain_messages``, which is already ours; for a consumer with an inbox, each fetch goes through
``fetch_by_partition.drain_fetch``: a partition's records in one step where there is room) and hands them to
the agent as lists of Faust's own messages. What Faust's path does that matters is kept, each at one place:

- the flow: nothing is taken while Faust's flow control is suspended (a rebalance), and what waits in the
  inbox is dropped when Faust clears its streams' queues (``flow_control.clear()``) — it comes again from
  the committed offset, as a queued event does;
- the bound: at most ``capacity`` records wait; the fetch loop waits for room as it waits on a full queue,
  and a suspended flow cancels that wait (``fast_paths.hand_over``);
- older generations: a record fetched before a rebalance is not handed out (Faust's stream skips it), and it
  is never acknowledged (fix F's concern: it comes again after the seek);
- acknowledgement (defect D): a batch is tracked as Faust tracks an event taken off a queue (a revocation
  waits until it is acknowledged) and acknowledged when the agent asks for the next batch — never when the
  agent stops midway;
- the stream's inbound time per partition, which Faust's "stream is idle" warnings read.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any

from faust.types.tuples import ack_lock
from mode.utils.futures import notify


class Inbox:
    """Records of ``topics``, from the fetch loop to one agent in batches; at most ``capacity`` waiting."""

    def __init__(self, app: Any, topics: Iterable[str], capacity: int) -> None:
        self.app = app
        self.topics = frozenset(topics)
        self.capacity = capacity
        self._waiting: deque[Any] = deque()
        self._wanted = 1  # how many waiting records wake the agent (one record each would cost a wake-up)
        self._arrived = asyncio.Event()  # the agent's wanted records wait
        self._room = asyncio.Event()  # fewer than capacity wait
        self._room.set()
        app.flow_control.manage_queue(self)  # cleared with the streams' queues

    def __len__(self) -> int:
        return len(self._waiting)

    def __hash__(self) -> int:  # flow control keeps its queues in a WeakSet
        return id(self)

    def offer(self, message: Any) -> bool:
        """Take ``message`` now if the flow runs and there is room; False: ``deliver`` it instead."""
        if len(self._waiting) >= self.capacity or not self.app.flow_control.is_active():
            return False
        waiting = self._waiting
        waiting.append(message)
        if len(waiting) >= self._wanted:
            self._arrived.set()
        return True

    def room(self) -> int:
        """How many records ``put`` may hand over now: none while the flow is suspended."""
        if not self.app.flow_control.is_active():
            return 0
        return max(0, self.capacity - len(self._waiting))

    def put(self, messages: list[Any]) -> None:
        """Take ``messages`` (at most ``room()`` of them, checked by the caller) in one step."""
        waiting = self._waiting
        waiting.extend(messages)
        if len(waiting) >= self._wanted:
            self._arrived.set()

    async def deliver(self, message: Any) -> None:
        """Take ``message`` once the flow runs and there is room (the fetch loop waits; a suspended flow
        cancels the wait, and the record comes again from where the seek puts its partition)."""
        while not self.offer(message):
            await self.app.flow_control.acquire()
            if len(self._waiting) >= self.capacity:
                self._room.clear()
                await self._room.wait()

    def clear(self) -> None:
        """Drop what waits (Faust clears its streams' queues so: on a revocation, when the flow resumes)."""
        self._waiting.clear()
        self._arrived.clear()
        self._room.set()

    async def batches(self, max_records: int, within: float) -> AsyncIterator[list[Any]]:
        """Batches of at most ``max_records`` messages: once that many wait, or ``within`` seconds after the
        first of a batch arrived. Each is acknowledged when the next is asked for (never if not)."""
        consumer = self.app.consumer
        inbound = self._inbound_times()
        while True:
            await self._filled(max_records, within)
            if not self.app.flow_control.is_active():
                continue  # a rebalance: what waited is cleared, what comes next waits for the flow
            batch = self._take(max_records)
            if not batch:
                continue
            unacked, now = consumer._unacked_messages, time.monotonic()
            for message in batch:
                unacked.add(message)  # what a revocation waits for, as for an event taken off a queue
                inbound[message.tp] = now
            yield batch
            acknowledge(consumer, batch)  # (D) only once the agent asks for the next batch

    async def _filled(self, max_records: int, within: float) -> None:
        """Until ``max_records`` wait, or ``within`` seconds after the first of them did."""
        await self.app.flow_control.acquire()
        if not self._waiting:
            self._wanted = 1
            self._arrived.clear()
            await self._arrived.wait()
        if len(self._waiting) < max_records:
            self._wanted = max_records
            self._arrived.clear()
            try:
                async with asyncio.timeout(within):
                    await self._arrived.wait()
            except TimeoutError:
                pass
        self._wanted = 1

    def _take(self, max_records: int) -> list[Any]:
        generation = self.app.consumer_generation_id
        taken: list[Any] = []
        waiting = self._waiting
        while waiting and len(taken) < max_records:
            message = waiting.popleft()
            if message.generation_id == generation:  # older: fetched before a rebalance, comes again
                taken.append(message)
        self._room.set()
        return taken

    def _inbound_times(self) -> dict[Any, float]:
        monitor = getattr(self.app, "monitor", None)
        times: dict[Any, float] | None = getattr(monitor, "stream_inbound_time", None)
        return {} if times is None else times


def acknowledge(consumer: Any, messages: list[Any]) -> None:
    """``Consumer.ack`` of faust-streaming 0.15.3 for each of ``messages``, under its lock once and with
    one wake-up of whoever waits for acknowledgements (BSD-3-Clause; the same bookkeeping, message by
    message: a differential test holds it to Faust's)."""
    acks_enabled_for = consumer.app.topics.acks_enabled_for
    committed_offset = consumer._committed_offset
    acked_index, acked, unacked = consumer._acked_index, consumer._acked, consumer._unacked_messages
    counted = 0
    with ack_lock:
        for message in messages:
            if message.acked:
                continue
            message.acked = True
            if not acks_enabled_for(message.topic):
                continue
            tp, offset = message.tp, message.offset
            committed = committed_offset[tp]
            if committed is None or offset >= committed:
                index = acked_index[tp]
                if offset not in index:
                    unacked.discard(message)
                    index.add(offset)
                    acked[tp].append(offset)
                    counted += 1
        consumer._n_acked += counted
    notify(consumer._waiting_for_ack)


def attach(consumer: Any, inbox: Inbox) -> None:
    """The fetch loop of ``consumer`` hands the records of ``inbox.topics`` to ``inbox``."""
    consumer._mp_inbox = inbox


def inbox_of(consumer: Any) -> Inbox | None:
    return getattr(consumer, "_mp_inbox", None)
