"""Where consumer groups are, as Kafka holds their committed offsets, and where partitions begin and end:
the scorer's watchdog, a candidate model version's promotion and ``rescore --apply``'s progress."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from services.common.kafka import KafkaUnavailable, client_options
from services.common.settings import CommonSettings


class KafkaOffsets:
    """Committed offsets and partition bounds, through one admin client and one consumer (no group) kept
    between reads and made afresh after a failure. A consumer that stopped fetching also stops learning its
    high-water marks: these are read by clients of their own."""

    def __init__(self, settings: CommonSettings) -> None:
        self._settings = settings
        self._clients: tuple[AIOKafkaAdminClient, AIOKafkaConsumer] | None = None

    @asynccontextmanager
    async def _asking(
        self, failure: str, timeout_s: float
    ) -> AsyncIterator[tuple[AIOKafkaAdminClient, AIOKafkaConsumer]]:
        try:
            async with asyncio.timeout(timeout_s):
                if self._clients is None:
                    admin = AIOKafkaAdminClient(**client_options(self._settings))
                    consumer = AIOKafkaConsumer(**client_options(self._settings), enable_auto_commit=False)
                    self._clients = (admin, consumer)
                    await admin.start()
                    await consumer.start()
                yield self._clients
        except (TimeoutError, KafkaError, OSError) as error:
            await self.close()
            raise KafkaUnavailable(f"{failure}: {error!r}") from error

    async def committed(
        self, group: str, partitions: Iterable[tuple[str, int]], timeout_s: float = 5.0
    ) -> dict[str, int]:
        """ "topic:partition" -> ``group``'s committed offset, for those that have one."""
        async with self._asking(f"no committed offsets for {group}", timeout_s) as (admin, _):
            offsets = await admin.list_consumer_group_offsets(group, partitions=_partitions(partitions))
        return {_name(tp): meta.offset for tp, meta in offsets.items() if meta.offset >= 0}

    async def ends(self, partitions: Iterable[tuple[str, int]], timeout_s: float = 5.0) -> dict[str, int]:
        """ "topic:partition" -> the broker's end offset."""
        async with self._asking("no end offsets", timeout_s) as (_, consumer):
            ends = await consumer.end_offsets(_partitions(partitions))
        return {_name(tp): offset for tp, offset in ends.items()}

    async def positions(
        self, groups: tuple[str, ...], topics: tuple[str, ...], timeout_s: float = 15.0
    ) -> GroupPositions:
        """The groups' committed offsets in ``topics`` and the topics' bounds (a topic not there yet has no
        partitions)."""
        async with self._asking(f"no offsets of {list(topics)}", timeout_s) as (admin, consumer):
            described = await admin.describe_topics(list(topics))
            partitions = [
                TopicPartition(topic["topic"], partition["partition"])
                for topic in described
                if not topic["error_code"]
                for partition in topic["partitions"]
            ]
            starts = await consumer.beginning_offsets(partitions)
            ends = await consumer.end_offsets(partitions)
            committed = {
                group: await admin.list_consumer_group_offsets(group, partitions=partitions)
                for group in groups
            }
        return GroupPositions(
            {_name(tp): offset for tp, offset in starts.items()},
            {_name(tp): offset for tp, offset in ends.items()},
            {
                group: {_name(tp): meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
                for group, offsets in committed.items()
            },
        )

    async def close(self) -> None:
        if self._clients is not None:
            (admin, consumer), self._clients = self._clients, None
            await consumer.stop()
            await admin.close()


def _partitions(partitions: Iterable[tuple[str, int]]) -> list[TopicPartition]:
    return [TopicPartition(topic, partition) for topic, partition in partitions]


def _name(tp: TopicPartition) -> str:
    return f"{tp.topic}:{tp.partition}"


@dataclass(frozen=True)
class GroupPositions:
    """Where consumer groups are in some topics: per partition ("topic:partition"), its first retained and
    next offsets, and each group's committed offset (a partition it never committed: at its start)."""

    starts: dict[str, int]
    ends: dict[str, int]
    committed: dict[str, dict[str, int]]  # group → partition → offset

    def progress(self, group: str) -> tuple[int, int]:
        """(records ``group`` has committed, records there are), from the first retained ones."""
        done = sum(max(0, self.position(group, tp) - start) for tp, start in self.starts.items())
        return done, sum(self.ends[tp] - start for tp, start in self.starts.items())

    def position(self, group: str, partition: str) -> int:
        return self.committed[group].get(partition, self.starts[partition])

    def covers(self, group: str, earlier: GroupPositions, other: str | None, prefix: str) -> bool:
        """Whether ``group`` has now committed, on every partition of the topics whose partitions start
        with ``prefix``, at least as far as ``other`` had in ``earlier`` (None: as far as their ends were)."""
        return all(
            self.position(group, tp) >= (earlier.ends[tp] if other is None else earlier.position(other, tp))
            for tp in earlier.starts
            if tp.startswith(prefix) and tp in self.starts
        )
