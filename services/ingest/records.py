"""How ingest's output becomes Kafka records: touchpoints, dead letters and identity links. Pure."""

from __future__ import annotations

from typing import Any

import orjson

from services.common.kafka import Record, records_by_partition


def touchpoint_records(topic: str, events: list[dict[str, Any]], partitions: int) -> list[Record]:
    """A request's events as few records as possible: those of one partition together, as a JSON array.

    Each constituent's events land in the partition their key would have chosen, so the scorer keeps one
    writer per constituent; per record, Faust's per-message cost is paid once instead of per event. A
    single event is one keyed record.
    """
    if len(events) <= 1:
        return [Record(topic, event["constituent_id"].encode(), orjson.dumps(event)) for event in events]
    keyed = [(event["constituent_id"].encode(), orjson.dumps(event)) for event in events]
    return records_by_partition(topic, keyed, partitions)


def dead_letter_records(topic: str, letters: list[dict[str, Any]]) -> list[Record]:
    return [Record(topic, None, orjson.dumps(letter)) for letter in letters]


def identity_link_records(topic: str, links: dict[str, str]) -> list[Record]:
    """Identity key → constituent, on the compacted identity-links topic."""
    return [
        Record(topic, key.encode(), orjson.dumps({"constituent_id": target})) for key, target in links.items()
    ]


def tombstone_records(topic: str, keys: list[str]) -> list[Record]:
    """Tombstones for ``keys`` on a compacted topic: compaction then removes them."""
    return [Record(topic, key.encode(), None) for key in keys]
