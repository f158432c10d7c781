"""Which of a call's records go as whole batches and which one ``send`` each
(services/common/batched_send.py): from ``few`` records a partition on, a batch; below, one send a
record. Where they land and in which order is tested against a real broker
(tests/integration/test_batched_send.py); here only the choice, on a stand-in producer that notes how
each record was handed over."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from services.common.batched_send import FEW, send_in_batches
from services.common.kafka_records import Record, Written, partition_for

PARTITIONS = 4


class StandInProducer:
    """aiokafka's producer as ``send_in_batches`` uses it; offsets counted per partition."""

    def __init__(self) -> None:
        self.how: dict[bytes, str] = {}  # value → "send" or "batch"
        self.next_offset: dict[tuple[str, int], int] = {}

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    def _written(self, topic: str, partition: int, count: int) -> asyncio.Future[Any]:
        offset = self.next_offset.get((topic, partition), 0)
        self.next_offset[(topic, partition)] = offset + count
        future = asyncio.get_running_loop().create_future()
        future.set_result(SimpleNamespace(topic=topic, partition=partition, offset=offset))
        return future

    async def send(self, topic: str, value: bytes, key: bytes | None, partition: int) -> Any:
        self.how[value] = "send"
        return self._written(topic, partition, 1)

    def create_batch(self) -> Any:
        values: list[bytes] = []
        return SimpleNamespace(values=values, append=lambda key, value, timestamp: values.append(value) or 1)

    async def send_batch(self, batch: Any, topic: str, partition: int) -> Any:
        for value in batch.values:
            self.how[value] = "batch"
        return self._written(topic, partition, len(batch.values))


def keys_for(partition: int, count: int) -> list[bytes]:
    keys = (f"person-{n}".encode() for n in range(1000))
    return [key for key in keys if partition_for(key, PARTITIONS) == partition][:count]


def records() -> list[Record]:
    """Two records for partition 0, one for partition 1, 40 for partition 2 (after the 40 more: a call
    large enough to be split by partition)."""
    wanted = {0: 2, 1: 1, 2: 40}
    return [
        Record("scores", key, f"{partition}:{key.decode()}".encode())
        for partition, count in wanted.items()
        for key in keys_for(partition, count)
    ]


def test_from_few_records_a_partition_s_go_as_one_batch_below_one_send_each() -> None:
    producer = StandInProducer()
    sent = records()
    written = asyncio.run(send_in_batches(producer, sent, few=2))  # type: ignore[arg-type]
    how = {record.value: producer.how[record.value or b""] for record in sent}
    assert [how[r.value] for r in sent if (r.value or b"").startswith(b"0:")] == ["batch", "batch"]
    assert [how[r.value] for r in sent if (r.value or b"").startswith(b"1:")] == ["send"]
    assert {how[r.value] for r in sent if (r.value or b"").startswith(b"2:")} == {"batch"}
    assert written[:3] == [Written("scores", 0, 0), Written("scores", 0, 1), Written("scores", 1, 0)]
    assert written[3:] == [Written("scores", 2, n) for n in range(40)]


def test_by_default_a_partition_s_few_records_join_the_producer_s_open_batch_one_send_each() -> None:
    producer = StandInProducer()
    sent = records()
    asyncio.run(send_in_batches(producer, sent))  # type: ignore[arg-type]
    assert FEW > 2
    assert {producer.how[r.value or b""] for r in sent if not (r.value or b"").startswith(b"2:")} == {"send"}
    assert {producer.how[r.value or b""] for r in sent if (r.value or b"").startswith(b"2:")} == {"batch"}
