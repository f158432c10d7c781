"""A consumer group's committed offsets, as Kafka holds them (the scorer's stall watch reads its own)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

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


async def group_progress(settings: CommonSettings, group: str, topics: tuple[str, ...]) -> tuple[int, int]:
    """How far ``group`` has come through ``topics``: (records committed, records in them), summed over every
    partition from its first retained offset. KafkaUnavailable when Kafka does not answer."""
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    offsets = GroupOffsets(settings, group)
    try:
        async with asyncio.timeout(15):
            await consumer.start()
            await consumer.topics()  # the metadata of every topic, partitions included
            partitions = [
                TopicPartition(topic, partition)
                for topic in topics
                for partition in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            starts = await consumer.beginning_offsets(partitions)
            ends = await consumer.end_offsets(partitions)
        committed = await offsets.read((tp.topic, tp.partition) for tp in partitions)
    except (TimeoutError, KafkaError, OSError) as error:
        raise KafkaUnavailable(f"no offsets of {list(topics)}: {error!r}") from error
    finally:
        await offsets.close()
        await consumer.stop()
    done = sum(
        max(0, committed.get(f"{tp.topic}:{tp.partition}", starts[tp]) - starts[tp]) for tp in partitions
    )
    return done, sum(ends[tp] - starts[tp] for tp in partitions)
