"""Many records to Kafka as whole batches, one stream of batches per partition (aiokafka's batch API).

aiokafka's per-message ``send`` costs ~20 µs of Python per record (a future, the accumulator, the
partitioner, a batch looked up per record): the scorer publishes ~150,000 records for 300,000 events, and
sending them one at a time took a quarter of its time (docs/performance.md, "Publishing in batches").
Here each partition's records are appended to ``BatchBuilder``s (C code in aiokafka) and each full batch
is handed over once: the same idempotent producer, the same record format, the same partitions and order
per partition, 2–6× the records per second (docs/performance.md, "Publishing in batches").

A partition's few records (fewer than ``FEW``) still go one ``send`` each: those join the producer's open
batch for the partition, shared with other callers' records — ingest's many small requests at once. A
batch handed over whole waits for the partition's previous one to be sent, so one per small request would
serialise them (measured: single-event POSTs at 1,363/s instead of 4,700/s). A caller that is the only
writer of its topics and waits for each call before the next (the scorer) passes ``few=2``: nothing to
share, and ~30 records a partition went one ``send`` each there (~20 µs each, a fifth of the scorer's
time at one event per record; docs/performance.md, "Small batches whole").

A keyed record without a partition goes where the producer's default partitioner would send it (murmur2
of the key over all the topic's partitions, as ``partition_for``); the keyless ones of one call (dead
letters) share one partition, chosen at random among the topic's as the default partitioner would.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from services.common.kafka_records import Record, Written, partition_for

Outcome = Written | BaseException  # where a record landed, or why it did not
FEW = 32  # a partition's records below this go one send each, into the producer's open batch


async def send_in_batches(
    producer: AIOKafkaProducer, records: Sequence[Record], few: int = FEW
) -> list[Outcome]:
    """Send ``records`` and wait for every answer: for each, in order, where it landed or the error of its
    batch (the caller decides what is worth sending again). A partition's records go as whole batches
    from ``few`` of them on, fewer one ``send`` each."""
    outcomes: list[Outcome | None] = [None] * len(records)
    if len(records) < few:  # a small call (ingest's single events): as aiokafka sends them, no more work
        await _send_each(producer, records, list(range(len(records))), outcomes)
    else:
        by_partition = await _by_partition(producer, records)
        await asyncio.gather(
            *(
                _send_partition(producer, topic, partition, records, numbers, outcomes, few)
                for (topic, partition), numbers in by_partition.items()
            )
        )
    return [outcome if outcome is not None else RuntimeError("no answer") for outcome in outcomes]


async def _by_partition(
    producer: AIOKafkaProducer, records: Sequence[Record]
) -> dict[tuple[str, int], list[int]]:
    """(topic, partition) → the numbers of its records, in order: where each is going."""
    by_partition: dict[tuple[str, int], list[int]] = {}
    counts: dict[str, int] = {}
    keyless: dict[str, int] = {}
    for n, record in enumerate(records):
        partition = record.partition
        if partition is None:
            if record.topic not in counts:
                counts[record.topic] = len(await producer.partitions_for(record.topic))
            if record.key is None:
                if record.topic not in keyless:
                    keyless[record.topic] = random.randrange(counts[record.topic])  # noqa: S311 (spreading load)
                partition = keyless[record.topic]
            else:
                partition = partition_for(record.key, counts[record.topic])
        by_partition.setdefault((record.topic, partition), []).append(n)
    return by_partition


async def _send_partition(
    producer: AIOKafkaProducer,
    topic: str,
    partition: int,
    records: Sequence[Record],
    numbers: list[int],
    outcomes: list[Outcome | None],
    few: int,
) -> None:
    """One partition's records, in order, in as few batches as the producer's batch size allows."""
    if len(numbers) < few:
        await _send_each(producer, records, numbers, outcomes, partition)
        return
    sent: list[tuple[list[int], asyncio.Future[Any]]] = []
    batch = producer.create_batch()
    members: list[int] = []
    try:
        for n in numbers:
            record = records[n]
            if batch.append(key=record.key, value=record.value, timestamp=None) is None:
                sent.append((members, await producer.send_batch(batch, topic, partition=partition)))
                batch, members = producer.create_batch(), []
                if batch.append(key=record.key, value=record.value, timestamp=None) is None:
                    raise ValueError(f"a record of {len(record.value or b'')} bytes fits no batch of {topic}")
            members.append(n)
        if members:
            sent.append((members, await producer.send_batch(batch, topic, partition=partition)))
    except Exception as error:  # the records not yet handed over all fail with it; those sent are awaited
        handed = {n for members_sent, _ in sent for n in members_sent}
        for n in numbers:
            if n not in handed:
                outcomes[n] = error
    for members_sent, future in sent:
        try:
            metadata = await future
        except Exception as error:
            for n in members_sent:
                outcomes[n] = error
            continue
        for relative, n in enumerate(members_sent):
            outcomes[n] = Written(topic, metadata.partition, metadata.offset + relative)


async def _send_each(
    producer: AIOKafkaProducer,
    records: Sequence[Record],
    numbers: list[int],
    outcomes: list[Outcome | None],
    partition: int | None = None,
) -> None:
    """One ``send`` per record (into the partition given, else the record's own or the partitioner's)."""
    futures: list[tuple[int, asyncio.Future[Any]]] = []
    try:
        for n in numbers:
            record = records[n]
            to = record.partition if partition is None else partition
            futures.append((n, await producer.send(record.topic, record.value, record.key, partition=to)))
    except Exception as error:  # as for batches: the rest fail with it, those sent are awaited
        for n in numbers[len(futures) :]:
            outcomes[n] = error
    for n, future in futures:
        try:
            metadata = await future
        except Exception as error:
            outcomes[n] = error
            continue
        outcomes[n] = Written(metadata.topic, metadata.partition, metadata.offset)
