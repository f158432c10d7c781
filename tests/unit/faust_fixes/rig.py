"""A Faust worker on a pretend broker: Faust's own fetch loop, recovery, stream, batching and commit rules run
as they do in the scorer; only aiokafka's part (positions, committed offsets, fetches, round trips) is played
by the rig, so that a test can put a seek or a rebalance exactly where a defect needs it."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import faust
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from services.faust_fixes.inbox import Inbox, attach

TOPIC = "touchpoints"


@dataclass
class Broker:
    """What the rig's broker holds and does: each partition's end, the group's commits, the consumer's
    positions, and how long a committed-offset request takes (a round trip per partition, as aiokafka's
    ``seek_to_committed`` makes)."""

    ends: dict[TP, int]
    committed: dict[TP, int | None]
    positions: dict[TP, int] = field(default_factory=dict)
    round_trip_s: float = 0.01
    fetch_size: int = 10
    hop_s: float = 0.001  # from aiokafka's thread to Faust's loop
    # the fetch with records of this number (1, 2, ...) is still on its way when a seek lands
    in_transit_during_seek: int | None = None
    sought: asyncio.Event = field(default_factory=asyncio.Event)
    fetches: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # new data for aiokafka's buffer
    first: dict[TP, int] = field(default_factory=dict)  # the first retained offset (retention)
    missing: set[int] = field(default_factory=set)  # offsets not in the log (compaction, transaction markers)

    def __post_init__(self) -> None:
        for tp in self.ends:  # a new assignment starts at the committed offset (aiokafka resets to it)
            self.positions.setdefault(tp, self.committed.get(tp) or self.first.get(tp, 0))
        self.arrived.set()

    def move(self, tp: TP, offset: int) -> None:
        """A seek: aiokafka fetches from there, and the data it gets wakes a fetch that waits."""
        self.positions[tp] = offset
        self.arrived.set()


class Worker:
    """A Faust app whose consumer reads ``broker``, and an agent that folds batches of ``TOPIC``."""

    def __init__(
        self,
        broker: Broker,
        *,
        buffer: int = 4,
        batch: int = 5,
        fold_s: float = 0.002,
        busy: asyncio.Event | None = None,
        inbox: bool = False,
    ) -> None:
        self.broker = broker
        self.app = app = faust.App(f"rig-{uuid.uuid4().hex[:8]}", broker="kafka://unused:1")
        self.consumer = consumer = app.consumer
        self.processed: list[int] = []
        self.batches: list[list[int]] = []
        self.source: Any = None  # the agent's batches (an async generator)
        self.fold_s, self.batch = fold_s, batch
        self.busy = busy  # while set, the agent is busy with an earlier batch (nothing taken off its queue)
        self.channel = app.channel(maxsize=buffer).clone(is_iterator=True)
        app.topics._acking_topics.add(TOPIC)
        consumer.assignment = lambda: set(broker.ends)  # type: ignore[method-assign]
        consumer.highwater = lambda tp: broker.ends[tp]  # type: ignore[method-assign]
        consumer._getmany = self._getmany  # type: ignore[method-assign]
        consumer.seek_to_committed = self._seek_to_committed  # type: ignore[method-assign]
        consumer._seek = self._seek  # type: ignore[method-assign]
        consumer.seek_wait = self._seek_wait  # type: ignore[method-assign]
        consumer.earliest_offsets = self._earliest  # type: ignore[method-assign]
        consumer.callback = self._deliver
        app._fetcher.maybe_start = self._nothing  # type: ignore[method-assign]
        self.fetcher = type("Fetcher", (), {"_stopped": asyncio.Event()})()
        self.delivered = 0  # records the conductor's callback was given
        # the scorer's way (services/faust_fixes/inbox.py): the fetch loop hands TOPIC's records to the inbox
        self.inbox = Inbox(app, [TOPIC], capacity=buffer) if inbox else None
        if self.inbox is not None:
            attach(consumer, self.inbox)
        self._tasks: list[asyncio.Task[Any]] = []

    async def _nothing(self) -> None:
        return None

    async def _getmany(self, active_partitions: set[TP] | None, timeout: float) -> dict[TP, list[Any]]:  # noqa: ASYNC109
        """aiokafka's ``fetched_records(partitions)``: what it has prefetched (of every assigned partition,
        from its position) for the partitions of the set given, looked at whenever new data arrives —
        with an empty set, for every partition. The records reach Faust a moment later (the hop from
        aiokafka's thread), when a seek may already have moved the position."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (records := self._take(active_partitions)):
            try:
                await asyncio.wait_for(self.broker.arrived.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                return {}
            self.broker.arrived.clear()
        self.broker.fetches += 1
        if self.broker.fetches == self.broker.in_transit_during_seek:
            await self.broker.sought.wait()
        await asyncio.sleep(self.broker.hop_s)
        return records

    def _take(self, partitions: set[TP] | None) -> dict[TP, list[Any]]:
        records: dict[TP, list[Any]] = {}
        for tp in sorted(self.broker.ends):
            if partitions and tp not in partitions:  # aiokafka's filter: an empty set is none
                continue
            start = self.broker.positions[tp]
            end = min(start + self.broker.fetch_size, self.broker.ends[tp])
            if start < end:
                records[tp] = [_record(tp, o) for o in range(start, end) if o not in self.broker.missing]
                self.broker.positions[tp] = end
        return records

    async def _seek_to_committed(self) -> dict[TP, int | None]:
        """aiokafka 0.14's: one round trip per partition, a seek only ``if offset and offset > 0``."""
        answer: dict[TP, int | None] = {}
        for tp in sorted(self.broker.ends):
            await asyncio.sleep(self.broker.round_trip_s)
            offset = self.broker.committed.get(tp)
            answer[tp] = offset
            if offset and offset > 0:
                self.broker.move(tp, offset)
        self.broker.sought.set()
        return answer

    async def _seek(self, tp: TP, offset: int) -> None:
        self.broker.move(tp, offset)

    async def _seek_wait(self, partitions: dict[TP, int]) -> None:
        for tp, offset in partitions.items():
            self.broker.move(tp, offset)

    async def _earliest(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.broker.first.get(tp, 0) for tp in tps}

    async def _deliver(self, message: Any) -> None:
        """The conductor's part: one more reference per stream, tracked, then on the stream's queue."""
        self.delivered += 1
        message.incref()
        self.consumer.track_message(message)
        await self.channel.deliver(message)

    async def _agent(self) -> None:
        while self.busy is not None and self.busy.is_set():
            await asyncio.sleep(0.001)
        self.source = batches = (
            self.inbox.batches(self.batch, within=0.01)
            if self.inbox is not None
            else (
                [e.message for e in events]
                async for events in self.app.stream(self.channel).take_events(self.batch, within=0.01)
            )
        )
        async for messages in batches:
            self.batches.append([message.offset for message in messages])
            self.processed.extend(message.offset for message in messages)
            await asyncio.sleep(self.fold_s)  # the fold and the publishing of its records

    def start(self, *, paused: bool) -> None:
        """The worker as Faust leaves it after an assignment: stream partitions paused (``paused``) until
        recovery completes, the flow resumed by recovery, the fetch loop and the agent running."""
        self.app.flow_control.resume()
        self.consumer.resume_flow()
        if paused:
            self.consumer.pause_partitions(self.broker.ends)
        else:
            self.consumer.resume_partitions(self.broker.ends)
        self._tasks = [
            asyncio.ensure_future(self.consumer._drain_messages(self.fetcher)),
            asyncio.ensure_future(self._agent()),
        ]

    async def recovery_completed(self) -> None:
        await self.app.tables.recovery.on_recovery_completed(self.app.consumer_generation_id)

    async def until_read(self, timeout_s: float = 3.0) -> None:
        """Until the fetch loop reached every partition's end and the agent is idle (or ``timeout_s``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        settled = 0
        while loop.time() < deadline and settled < 20:
            done = all(self.broker.positions[tp] >= end for tp, end in self.broker.ends.items())
            settled = settled + 1 if done and not self.consumer._unacked_messages else 0
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.fetcher._stopped.set()
        for task in self._tasks:  # the fetch loop first, then the agent
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def commit_to(self, tp: TP) -> int | None:
        """Where Faust's next commit of ``tp`` would go (its ``_new_offset``), or None: no commit."""
        offset: int | None = self.consumer._new_offset(tp)
        return offset

    def lost_and_doubled(self, offsets: Iterable[int]) -> tuple[list[int], list[int]]:
        counts = Counter(self.processed)
        return [o for o in offsets if not counts[o]], [o for o in offsets if counts[o] > 1]


def _record(tp: TP, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, b"k", b"v", None, 1, 1, ())
