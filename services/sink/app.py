"""The sink: the compacted `constituent-scores` topic into Redis (services/serving/redis_scores.py) — and
the live model version's, each into its version's namespace (services/sink/namespaces.py).

A consumer group, so sinks scale like the scorer (each partition written by one of them at a time). Each
batch is written, then the offset it was handled up to noted in Redis itself, per partition: a sink given a
partition starts from there — killed between the two, its successor writes the batch again, a no-op for
every record Redis already holds by the offset guard — and a new or wiped Redis, which has no position, gets
the partition replayed from its beginning (also when it is wiped under a running sink: its next write finds
no position where it had left one). The group's commits are only for lag dashboards. A record that is not
a score record is counted and skipped (its offset committed: it will never become readable); Redis or
Kafka away: nothing is committed, the sink waits and tries again.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Counter
from redis.exceptions import RedisError

from services.common.follower import CONSUMER_LAG
from services.common.kafka import client_options, ensure_topics
from services.serving.client import connect
from services.serving.redis_scores import RedisScores, ScoreWrite
from services.sink.namespaces import Namespaces
from services.sink.settings import SinkSettings

log = logging.getLogger(__name__)

SINK_RECORDS = Counter(
    "mp_sink_records_total",
    "Score records the sink handled, by outcome: written, older (Redis held one as new), skipped",
    ["outcome"],
)


async def run_sink(settings: SinkSettings, stop: asyncio.Event | None = None) -> None:
    """Write the scores topics to Redis until ``stop`` is set (forever without one)."""
    client = connect(settings)
    namespaces = Namespaces(settings, client)
    versions = asyncio.create_task(namespaces.follower.run())
    try:
        await namespaces.follower.ready.wait()  # which version is live, before the first write
        while stop is None or not stop.is_set():
            namespaces.changed.clear()
            stores = namespaces.stores()
            log.info("sink starting", extra={"topics": sorted(stores)})
            consumer = AIOKafkaConsumer(
                **client_options(settings),
                group_id=settings.sink_group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            try:
                await ensure_topics(settings)
                consumer.subscribe(list(stores), listener=_FromRedisPosition(consumer, stores))
                await consumer.start()
                await _drain(consumer, stores, stop, namespaces.changed, settings.sink_batch_records)
            except (KafkaError, OSError, RedisError) as error:
                log.warning("sink lost Kafka or Redis; trying again", extra={"error": repr(error)})
            finally:
                await consumer.stop()
            if not namespaces.changed.is_set() and (stop is None or not stop.is_set()):
                await asyncio.sleep(settings.sink_retry_s)
    finally:
        versions.cancel()
        await client.aclose()


class _FromRedisPosition(ConsumerRebalanceListener):  # type: ignore[misc]
    """Each partition the sink is given starts where Redis says it was handled up to — not where the group
    committed: a new or wiped Redis has no position, and the partition is replayed from its beginning."""

    def __init__(self, consumer: AIOKafkaConsumer, stores: dict[str, RedisScores]) -> None:
        self.consumer = consumer
        self.stores = stores

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        for tp in assigned:
            handled = await self.stores[tp.topic].position(tp.topic, tp.partition)
            if handled is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, handled + 1)


async def _drain(
    consumer: AIOKafkaConsumer,
    stores: dict[str, RedisScores],
    stop: asyncio.Event | None,
    changed: asyncio.Event,
    batch_records: int,
) -> None:
    written_to: set[TopicPartition] = set()  # partitions this sink wrote to since it was given them
    while (stop is None or not stop.is_set()) and not changed.is_set():
        batches = await consumer.getmany(timeout_ms=500, max_records=batch_records)
        for topic, store in stores.items():
            of_topic = {tp: records for tp, records in batches.items() if tp.topic == topic}
            if of_topic:
                await _write(consumer, store, of_topic, written_to)
        if batches:  # for lag dashboards: where the sink resumes is Redis's own position
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items()})
        for tp in consumer.assignment():  # how far behind the topic Redis is, per partition
            highwater = consumer.highwater(tp)
            if highwater is not None:
                behind = highwater - await consumer.position(tp)
                CONSUMER_LAG.labels("sink", tp.topic, str(tp.partition)).set(max(0, behind))


async def _write(
    consumer: AIOKafkaConsumer,
    store: RedisScores,
    batches: dict[TopicPartition, list[ConsumerRecord]],
    written_to: set[TopicPartition],
) -> None:
    """One topic's batch written, then each partition's position noted (a lost one replayed)."""
    writes = [
        ScoreWrite(tp.partition, record.offset, record.key, record.value)
        for tp, records in batches.items()
        for record in records
        if record.key is not None  # the scorer keys every record: one without is nobody's
    ]
    keyless = sum(len(records) for records in batches.values()) - len(writes)
    written = await store.write(writes)
    SINK_RECORDS.labels("written").inc(written.changed)
    SINK_RECORDS.labels("older").inc(written.unchanged)
    if written.unreadable or keyless:
        SINK_RECORDS.labels("skipped").inc(written.unreadable + keyless)
        log.warning(
            "skipped records that are not score records", extra={"skipped": written.unreadable + keyless}
        )
    topic = next(iter(batches)).topic
    lost = await store.advance(topic, {tp.partition: records[-1].offset for tp, records in batches.items()})
    for tp in batches:
        if tp.partition in lost and tp in written_to:
            log.warning(
                "Redis lost what the sink wrote (a new or wiped Redis): replaying the partition",
                extra={"topic": tp.topic, "partition": tp.partition},
            )
            await consumer.seek_to_beginning(tp)
        written_to.add(tp)
