"""Ingest writes a request's events as one JSON-array record per partition, where their keys would go."""

import orjson
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from services.common.kafka import partition_for, records_by_partition

keys = st.text(alphabet="abcdefghij-0123456789", min_size=1, max_size=12).map(str.encode)


@given(st.lists(keys, min_size=1, max_size=200), st.integers(1, 16), st.integers(10, 4000))
def test_every_value_lands_once_in_its_keys_partition_in_order_and_within_the_size_limit(
    batch: list[bytes], partitions: int, limit: int
) -> None:
    keyed = [(key, orjson.dumps({"key": key.decode(), "n": n})) for n, key in enumerate(batch)]
    records = records_by_partition("touchpoints", keyed, partitions, limit)
    landed = []
    for record in records:
        assert record.key is None and record.topic == "touchpoints"
        values = orjson.loads(record.value or b"")
        assert len(values) == 1 or len(record.value or b"") <= limit
        for value in values:
            assert partition_for(value["key"].encode(), partitions) == record.partition
            landed.append(value)
    assert sorted(v["n"] for v in landed) == list(range(len(batch)))
    for partition in range(partitions):
        in_partition = [v["n"] for v in landed if partition_for(v["key"].encode(), partitions) == partition]
        assert in_partition == sorted(in_partition), "a key's events must keep their order"


def test_grouped_events_go_where_the_producers_default_partitioner_sends_keyed_ones() -> None:
    for key in (b"c-00001", b"donor-42", b"k-0f3a"):
        assert partition_for(key, 8) == DefaultPartitioner()(key, list(range(8)), list(range(8)))
