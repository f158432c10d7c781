"""Defect C on the real broker: aiokafka's seek back to the committed offsets leaves a partition the group
never committed where it is (aiokafka#1003; fixed for the scorer in services/faust_fixes/uncommitted_starts.py
and shown with and without the fix in tests/unit/faust_fixes/test_uncommitted_starts.py)."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

pytestmark = pytest.mark.integration


async def topic_with_five_records_per_partition(bootstrap: str) -> str:
    topic = f"test-group-offsets-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for partition in (0, 1):
            for n in range(5):
                await producer.send_and_wait(topic, f"{n}".encode(), partition=partition)
    finally:
        await producer.stop()
    return topic


async def read_everything(consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
    while await consumer.position(tp) < 5:
        await consumer.getmany(tp, timeout_ms=1000)


async def test_a_seek_to_the_committed_offsets_leaves_a_partition_never_committed_where_it_is(
    bootstrap: str,
) -> None:
    topic = await topic_with_five_records_per_partition(bootstrap)
    group = f"test-group-{uuid.uuid4().hex[:8]}"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    committed, never = TopicPartition(topic, 0), TopicPartition(topic, 1)
    await consumer.start()
    try:
        consumer.assign([committed, never])
        await consumer.commit({committed: 2})
        await read_everything(consumer, committed)
        await read_everything(consumer, never)
        await consumer.seek_to_committed()
        # the committed partition goes back; the other does not (aiokafka: ``if offset and offset > 0``) …
        assert (await consumer.position(committed), await consumer.position(never)) == (2, 5)
        consumer.seek(never, 0)  # … so the fixed perform_seek sends it to where the group's reading starts
        assert await consumer.position(never) == 0
    finally:
        await consumer.stop()
