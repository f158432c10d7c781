"""The soak's one rebalance, explained on the real broker (docs/reliability.md, "Soak"): when a metadata
refresh shows the group's subscribed topics other than they were when it joined (a topic's partitions
0 → n), aiokafka's coordinator makes the member rejoin (``_handle_metadata_update``): a rebalance, at the
next refresh (every ``metadata_max_age_ms``, 300 s by default: "about 300 s" into the soak). Shown here
with a pattern subscription and a topic that appears after the join (an explicit subscription to a topic
still being created, as the soak's worker had, meets the same path but only by a race). The scorer's remedy:
every topic it subscribes to exists before it starts (the CLI creates them, Faust's leader topic is off:
tests/unit/scorer/test_stores.py)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

pytestmark = pytest.mark.integration


class Rebalances(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.assigned: list[set[str]] = []

    def on_partitions_revoked(self, revoked: object) -> None:
        return None

    def on_partitions_assigned(self, assigned: object) -> None:
        self.assigned.append({f"{tp.topic}:{tp.partition}" for tp in assigned})  # type: ignore[attr-defined]


async def test_a_subscribed_topic_that_appears_later_makes_the_group_rebalance(bootstrap: str) -> None:
    prefix = f"meta-{uuid.uuid4().hex[:6]}"
    existing, later = f"{prefix}-a", f"{prefix}-b"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(existing, num_partitions=1, replication_factor=1)])
    listener = Rebalances()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"meta-{uuid.uuid4().hex[:6]}",
        metadata_max_age_ms=3000,  # the scorer's is aiokafka's default, 300 s: the soak's "about 300 s"
    )
    consumer.subscribe(pattern=f"^{prefix}-.*", listener=listener)
    await consumer.start()
    try:
        for _ in range(100):
            await consumer.getmany(timeout_ms=100)
            if listener.assigned:
                break
        assert listener.assigned == [{f"{existing}:0"}]  # joined without the missing topic
        await admin.create_topics([NewTopic(later, num_partitions=2, replication_factor=1)])
        for _ in range(150):  # a refresh comes within metadata_max_age_ms
            await consumer.getmany(timeout_ms=100)
            if len(listener.assigned) > 1:
                break
        assert listener.assigned[1:2] == [{f"{existing}:0", f"{later}:0", f"{later}:1"}]  # a rebalance
    finally:
        await consumer.stop()
        await admin.close()
    await asyncio.sleep(0)
