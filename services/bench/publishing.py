"""What publishing a batch's records costs: aiokafka's per-message ``send`` (how the scorer published until
2026-11-28) against ``ReliableProducer.send_all``, which hands each partition's records over as whole
batches (services/common/batched_send.py). The same records, producer settings and broker, in the same run.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid

from aiokafka import AIOKafkaProducer

from services.bench.baselines import create_topic
from services.bench.measure import Figures
from services.common.kafka import Record, ReliableProducer
from services.common.settings import CommonSettings

STATE_BYTES = (600, 1500, 3000)  # changelog records: a constituent's state (1.5 KB on average)
SCORE_BYTES = 300  # a score record


def scorer_like_records(changelog: str, scores: str, people: int, partitions: int) -> list[Record]:
    """Per person: a state in the changelog's partition of its key, and a score record keyed by them."""
    rng = random.Random(7)  # noqa: S311 (test data)
    records = []
    for n in range(people):
        key = f"c-{rng.randrange(1_000_000):06d}".encode()
        records.append(Record(changelog, key, rng.randbytes(rng.choice(STATE_BYTES)), n % partitions))
        records.append(Record(scores, key, rng.randbytes(SCORE_BYTES)))
    return records


async def publish_cost(settings: CommonSettings, people: int = 50_000) -> dict[str, Figures]:
    suffix = uuid.uuid4().hex[:6]
    figures: dict[str, Figures] = {}
    for label in ("per-message send (before)", "send_all, batches per partition (now)"):
        changelog, scores = (
            f"bench-publish-changelog-{suffix}-{len(figures)}",
            f"bench-publish-{suffix}-{len(figures)}",
        )
        for topic in (changelog, scores):
            await create_topic(settings, topic)
        records = scorer_like_records(changelog, scores, people, settings.topic_partitions)
        started = time.perf_counter()
        if label.startswith("per-message"):
            await _one_at_a_time(settings, records)
        else:
            publisher = ReliableProducer(settings, timeout_s=120)
            try:
                await publisher.send_all(records)
            finally:
                await publisher.stop()
        seconds = time.perf_counter() - started
        figures[label] = {
            "records": len(records),
            "seconds": round(seconds, 2),
            "records_per_s": round(len(records) / seconds),
        }
    return figures


async def _one_at_a_time(settings: CommonSettings, records: list[Record]) -> None:
    """As ``send_all`` did before: one ``send`` per record, then every answer awaited (aiokafka's default
    16 KiB batches, as that producer had)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        futures = [
            await producer.send(r.topic, value=r.value, key=r.key, partition=r.partition) for r in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
