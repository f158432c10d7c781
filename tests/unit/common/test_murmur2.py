"""Our murmur2 is Kafka's: the same hash as aiokafka's (the Java client's) for keys of every length, and the
same partitions as aiokafka's default partitioner."""

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from services.common.murmur2 import murmur2, partition_for


def test_the_hash_is_aiokafkas_for_keys_of_every_length_and_byte() -> None:
    rng = random.Random(3)
    keys = [b"", b"a", b"ab", b"abc", b"abcd", b"\xff\xfe\xfd", bytes(range(256))]
    keys += [rng.randbytes(rng.randrange(1, 64)) for _ in range(2000)]
    keys += [f"c-{n:06d}".encode() for n in range(1000)]
    for key in keys:
        assert murmur2(key) == aiokafka_murmur2(key), key


def test_keys_land_where_the_default_partitioner_puts_them() -> None:
    partitioner = DefaultPartitioner()
    for partitions in (1, 3, 8, 12):
        every = list(range(partitions))
        for n in range(500):
            key = f"constituent-{n}".encode()
            assert partition_for(key, partitions) == partitioner(key, every, every)
