"""What crosses the boundary to Kafka: a record to send, where one landed, and which partition a key has."""

from __future__ import annotations

from typing import NamedTuple

from services.common.murmur2 import partition_for as partition_for  # re-exported


class Record(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes | None  # None: a tombstone
    partition: int | None = None  # None: chosen from the key by Kafka's default partitioner


class Written(NamedTuple):
    topic: str
    partition: int
    offset: int
