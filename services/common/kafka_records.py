"""What crosses the boundary to Kafka: a record to send, where one landed, and which partition a key has."""

from __future__ import annotations

from typing import NamedTuple

from aiokafka.partitioner import murmur2


class Record(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes | None  # None: a tombstone
    partition: int | None = None  # None: chosen from the key by Kafka's default partitioner


class Written(NamedTuple):
    topic: str
    partition: int
    offset: int


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a keyed record (murmur2, as in the Java client)."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions
