"""A consumer group's committed offsets, as Kafka holds them (the scorer's stall watch reads its own)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from services.common.kafka import KafkaUnavailable, client_options
from services.common.settings import CommonSettings


class GroupOffsets:
    """A consumer group's committed offsets, read through one admin client kept between reads."""

    def __init__(self, settings: CommonSettings, group: str) -> None:
        self._settings = settings
        self._group = group
        self._admin: AIOKafkaAdminClient | None = None

    async def read(self, partitions: Iterable[tuple[str, int]], timeout_s: float = 5.0) -> dict[str, int]:
        """ "topic:partition" -> committed offset, for those that have one; KafkaUnavailable otherwise."""
        wanted = [TopicPartition(topic, partition) for topic, partition in partitions]
        try:
            async with asyncio.timeout(timeout_s):
                if self._admin is None:
                    admin = AIOKafkaAdminClient(**client_options(self._settings))
                    await admin.start()
                    self._admin = admin
                offsets = await self._admin.list_consumer_group_offsets(self._group, partitions=wanted)
        except (TimeoutError, KafkaError, OSError) as error:
            await self.close()
            raise KafkaUnavailable(f"no committed offsets for {self._group}: {error!r}") from error
        return {f"{tp.topic}:{tp.partition}": meta.offset for tp, meta in offsets.items() if meta.offset >= 0}

    async def close(self) -> None:
        if self._admin is not None:
            admin, self._admin = self._admin, None
            await admin.close()


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


async def group_positions(
    settings: CommonSettings, groups: tuple[str, ...], topics: tuple[str, ...]
) -> GroupPositions:
    """The groups' committed offsets in ``topics`` and the topics' bounds (a topic not there yet has no
    partitions). KafkaUnavailable when Kafka does not answer."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    readers = {group: GroupOffsets(settings, group) for group in groups}
    try:
        async with asyncio.timeout(15):
            await admin.start()
            await consumer.start()
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
            group: await reader.read((tp.topic, tp.partition) for tp in partitions)
            for group, reader in readers.items()
        }
    except (TimeoutError, KafkaError, OSError) as error:
        raise KafkaUnavailable(f"no offsets of {list(topics)}: {error!r}") from error
    finally:
        for reader in readers.values():
            await reader.close()
        await consumer.stop()
        await admin.close()
    return GroupPositions(
        {f"{tp.topic}:{tp.partition}": offset for tp, offset in starts.items()},
        {f"{tp.topic}:{tp.partition}": offset for tp, offset in ends.items()},
        committed,
    )


class PartitionEnds:
    """The broker's end offsets, through a client of their own kept between reads: a consumer that stopped
    fetching also stops learning its partitions' high-water marks."""

    def __init__(self, settings: CommonSettings) -> None:
        self._settings = settings
        self._consumer: AIOKafkaConsumer | None = None

    async def read(self, partitions: Iterable[tuple[str, int]], timeout_s: float = 5.0) -> dict[str, int]:
        """ "topic:partition" -> end offset; KafkaUnavailable when Kafka does not answer."""
        wanted = [TopicPartition(topic, partition) for topic, partition in partitions]
        try:
            async with asyncio.timeout(timeout_s):
                if self._consumer is None:
                    consumer = AIOKafkaConsumer(**client_options(self._settings), enable_auto_commit=False)
                    await consumer.start()
                    self._consumer = consumer
                ends = await self._consumer.end_offsets(wanted)
        except (TimeoutError, KafkaError, OSError) as error:
            await self.close()
            raise KafkaUnavailable(f"no end offsets: {error!r}") from error
        return {f"{tp.topic}:{tp.partition}": offset for tp, offset in ends.items()}

    async def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()
