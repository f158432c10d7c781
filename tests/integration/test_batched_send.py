"""Records sent as whole batches per partition (services/common/batched_send.py, through ``send_all``) land
where aiokafka's per-message send puts them, in order, each at the offset ``send_all`` reports."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.common.kafka import Record, ReliableProducer, Written
from services.common.settings import CommonSettings

pytestmark = pytest.mark.integration
PARTITIONS = 4


async def new_topic(bootstrap: str) -> str:
    topic = f"test-batched-send-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        await admin.close()
    return topic


async def read_back(
    bootstrap: str, written: list[Written]
) -> dict[tuple[int, int], tuple[bytes | None, bytes | None]]:
    """(partition, offset) → (key, value) of every record up to the highest offset written."""
    topic = written[0].topic
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: dict[tuple[int, int], tuple[bytes | None, bytes | None]] = {}
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for tp, messages in (await consumer.getmany(timeout_ms=1000)).items():
                for message in messages:
                    found[(tp.partition, message.offset)] = (message.key, message.value)
    finally:
        await consumer.stop()
    return found


async def test_batches_land_where_single_sends_would_in_order_at_the_offsets_reported(bootstrap: str) -> None:
    topic = await new_topic(bootstrap)
    # keyed without a partition (the default partitioner's choice), given a partition, keyless, tombstones;
    # 3 KB values and 16 KiB batches: each partition's records take several batches
    records = [Record(topic, f"person-{n % 37}".encode(), f"{n}:".encode() + b"x" * 3000) for n in range(60)]
    records += [Record(topic, b"pinned", f"pinned-{n}".encode(), partition=2) for n in range(5)]
    records += [Record(topic, None, f"keyless-{n}".encode()) for n in range(5)]
    records += [Record(topic, b"person-3", None)]
    publisher = ReliableProducer(CommonSettings(kafka_bootstrap=bootstrap, kafka_batch_bytes=16 * 1024), 30)
    try:
        written = await publisher.send_all(records)
    finally:
        await publisher.stop()

    reference = AIOKafkaProducer(bootstrap_servers=bootstrap)  # aiokafka's own choice, one record at a time
    await reference.start()
    try:
        expected = [
            (await reference.send_and_wait(topic, b"probe", key=record.key)).partition
            for record in records[:60]
        ]
    finally:
        await reference.stop()
    assert [w.partition for w in written[:60]] == expected
    assert {w.partition for w in written[60:65]} == {2}
    assert len({w.partition for w in written[65:70]}) == 1  # one call's keyless records share a partition

    stored = await read_back(bootstrap, written)
    for record, where in zip(records, written, strict=True):
        assert stored[(where.partition, where.offset)] == (record.key, record.value)
    by_partition: dict[int, list[int]] = {}
    for where in written:
        by_partition.setdefault(where.partition, []).append(where.offset)
    for offsets in by_partition.values():
        assert offsets == sorted(offsets)  # order kept within each partition
