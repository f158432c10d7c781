"""The sink: the compacted `constituent-scores` topic into Redis (services/serving/redis_scores.py).

A consumer group, so sinks scale like the scorer (each partition written by one of them at a time). Each
batch is written, then its offsets committed: killed between the two, a sink's successor writes the batch
again — and the offset guard makes that a no-op for every record Redis already holds. A record that is not
a score record is counted and skipped (its offset committed: it will never become readable); Redis or
Kafka away: nothing is committed, the sink waits and tries again.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common.config_files import load_scoring_model
from services.common.kafka import client_options, ensure_topics
from services.serving.redis_scores import RedisScores, ScoreWrite
from services.sink.settings import SinkSettings

log = logging.getLogger(__name__)

SINK_RECORDS = Counter(
    "mp_sink_records_total",
    "Score records the sink handled, by outcome: written, older (Redis held one as new), skipped",
    ["outcome"],
)


def roles_of(settings: SinkSettings) -> tuple[str, list[str]]:
    """The live model's version and its roles: the namespace and the rank sets the sink writes."""
    model = load_scoring_model(settings.scoring_config)
    return model.fingerprint, sorted({rule.role for rule in model.roles})


async def run_sink(settings: SinkSettings, stop: asyncio.Event | None = None) -> None:
    """Write the scores topic to Redis until ``stop`` is set (forever without one)."""
    version, roles = roles_of(settings)
    client = Redis.from_url(settings.redis_url.get_secret_value())
    store = RedisScores(client, version, roles, settings.topic_partitions)
    log.info("sink starting", extra={"topic": settings.topic_scores, "version": version, "roles": roles})
    try:
        while stop is None or not stop.is_set():
            consumer = AIOKafkaConsumer(
                settings.topic_scores,
                **client_options(settings),
                group_id=settings.sink_group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            try:
                await ensure_topics(settings)
                await consumer.start()
                await _drain(consumer, store, settings, stop)
            except (KafkaError, OSError, RedisError) as error:
                log.warning("sink lost Kafka or Redis; trying again", extra={"error": repr(error)})
            finally:
                await consumer.stop()
            if stop is None or not stop.is_set():
                await asyncio.sleep(settings.sink_retry_s)
    finally:
        await client.aclose()


async def _drain(
    consumer: AIOKafkaConsumer, store: RedisScores, settings: SinkSettings, stop: asyncio.Event | None
) -> None:
    while stop is None or not stop.is_set():
        batches = await consumer.getmany(timeout_ms=500, max_records=settings.sink_batch_records)
        if not batches:
            continue
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
        await consumer.commit(
            {
                TopicPartition(tp.topic, tp.partition): records[-1].offset + 1
                for tp, records in batches.items()
            }
        )
