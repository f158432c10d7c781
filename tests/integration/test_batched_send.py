"""Records sent as whole batches per partition (services/common/batched_send.py, through ``send_all``) land
where aiokafka's per-message send puts them, in order, each at the offset ``send_all`` reports."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.common.batched_send import FEW
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
) -> dict[tuple[str, int, int], tuple[bytes | None, bytes | None]]:
    """(topic, partition, offset) → (key, value) of every record in the topics written."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: dict[tuple[int, int], tuple[bytes | None, bytes | None]] = {}
    try:
        tps = [TopicPartition(topic, p) for topic in {w.topic for w in written} for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for tp, messages in (await consumer.getmany(timeout_ms=1000)).items():
                for message in messages:
                    found[(tp.topic, tp.partition, message.offset)] = (message.key, message.value)
    finally:
        await consumer.stop()
    return found


async def send_and_check(bootstrap: str, records: list[Record]) -> list[Written]:
    """``send_all`` ``records`` (of one new topic; the first ``KEYED`` keyed without a partition); check
    each landed where aiokafka's default partitioner puts it, in order, at the offset reported."""
    publisher = ReliableProducer(CommonSettings(kafka_bootstrap=bootstrap, kafka_batch_bytes=16 * 1024), 30)
    try:
        written = await publisher.send_all(records)
    finally:
        await publisher.stop()
    keyed = [n for n, r in enumerate(records) if r.key is not None and r.partition is None and r.value]
    reference = AIOKafkaProducer(bootstrap_servers=bootstrap)  # aiokafka's own choice, one record at a time
    await reference.start()
    try:
        for n in keyed:
            placed = await reference.send_and_wait(records[n].topic, b"probe", key=records[n].key)
            assert written[n].partition == placed.partition
    finally:
        await reference.stop()
    stored = await read_back(bootstrap, written)
    for record, where in zip(records, written, strict=True):
        assert where.topic == record.topic
        assert stored[(where.topic, where.partition, where.offset)] == (record.key, record.value)
    by_partition: dict[tuple[str, int], list[int]] = {}
    for where in written:
        by_partition.setdefault((where.topic, where.partition), []).append(where.offset)
    for offsets in by_partition.values():
        assert offsets == sorted(offsets)  # order kept within each partition
    return written


async def test_many_records_go_as_whole_batches_where_single_sends_would_in_order(bootstrap: str) -> None:
    topic = await new_topic(bootstrap)
    # 200 keyed without a partition (~50 a partition: whole batches), 3 KB values in 16 KiB batches (several
    # batches a partition), 5 given a partition, 5 keyless, a tombstone; and a few of another topic, which
    # go one send each in the same call
    other = await new_topic(bootstrap)
    records = [Record(topic, f"person-{n % 97}".encode(), f"{n}:".encode() + b"x" * 3000) for n in range(200)]
    records += [Record(topic, b"pinned", f"pinned-{n}".encode(), partition=2) for n in range(5)]
    records += [Record(topic, None, f"keyless-{n}".encode()) for n in range(5)]
    records += [Record(topic, b"person-3", None)]
    records += [Record(other, f"person-{n}".encode(), f"other-{n}".encode()) for n in range(6)]
    written = await send_and_check(bootstrap, records)
    assert min(Counter(w.partition for w in written[:200]).values()) >= FEW  # each partition: batches
    assert {w.partition for w in written[200:205]} == {2}
    assert len({w.partition for w in written[205:210]}) == 1  # one call's keyless records share a partition
    assert max(Counter(w.partition for w in written[211:]).values()) < FEW


async def test_a_few_records_go_one_send_each_where_single_sends_would(bootstrap: str) -> None:
    topic = await new_topic(bootstrap)
    records = [Record(topic, f"person-{n}".encode(), f"event-{n}".encode()) for n in range(6)]
    written = await send_and_check(bootstrap, records)
    assert max(Counter(w.partition for w in written).values()) < FEW  # each partition: one send a record
