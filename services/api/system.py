"""The console's system strip: how fast touchpoints reach Kafka and how far the scorer lags, read from Kafka.

Both count **records**, which is what offsets count: the growth of the touchpoints topic's end offsets
between two probes, and those end offsets minus the offsets the scorer's group committed. Ingest writes a
request's events as one record per partition, so a record may hold many events. Reading Kafka itself (rather
than Prometheus) keeps the console working wherever the API does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from services.common.kafka import client_options
from services.common.settings import CommonSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # monotonic seconds
    records: int  # records ever written to the touchpoints topic (sum of end offsets)
    scorer_lag: int | None  # records; None: the scorer's group has committed nothing yet


@dataclass(slots=True)
class SystemProbe:
    settings: CommonSettings
    interval_s: float = 5.0
    previous: Sample | None = None
    latest: Sample | None = None

    def record(self, sample: Sample) -> None:
        self.previous, self.latest = self.latest, sample

    @property
    def records_per_second(self) -> float | None:
        if self.previous is None or self.latest is None or self.latest.at <= self.previous.at:
            return None
        return (self.latest.records - self.previous.records) / (self.latest.at - self.previous.at)

    def snapshot(self) -> dict[str, float | int | None]:
        rate = self.records_per_second
        return {
            "sampled_ago_s": None if self.latest is None else round(time.monotonic() - self.latest.at, 1),
            "touchpoint_records_total": None if self.latest is None else self.latest.records,
            "touchpoint_records_per_second": None if rate is None else round(rate, 1),
            "scorer_lag_records": None if self.latest is None else self.latest.scorer_lag,
        }

    async def run(self) -> None:
        """Sample forever; while Kafka is away the strip keeps its last figures (``sampled_ago_s`` grows)."""
        while True:
            consumer = AIOKafkaConsumer(**client_options(self.settings), enable_auto_commit=False)
            admin = AIOKafkaAdminClient(**client_options(self.settings))
            try:
                async with asyncio.timeout(10):
                    await consumer.start()
                    await admin.start()
                while True:
                    async with asyncio.timeout(10):
                        self.record(await self._sample(consumer, admin))
                    await asyncio.sleep(self.interval_s)
            except (KafkaError, OSError, TimeoutError) as error:
                log.warning("system probe lost Kafka; reconnecting", extra={"error": repr(error)})
            finally:
                with suppress(KafkaError):
                    await admin.close()
                await consumer.stop()
            await asyncio.sleep(self.interval_s)

    async def _sample(self, consumer: AIOKafkaConsumer, admin: AIOKafkaAdminClient) -> Sample:
        topic = self.settings.topic_touchpoints
        [described] = await admin.describe_topics([topic])
        partitions = [TopicPartition(topic, p["partition"]) for p in described.get("partitions", [])]
        ends = await consumer.end_offsets(partitions) if partitions else {}
        committed = await admin.list_consumer_group_offsets(self.settings.scorer_app_id)
        done = {tp: meta.offset for tp, meta in committed.items() if tp.topic == topic and meta.offset >= 0}
        lag = sum(end - done.get(tp, 0) for tp, end in ends.items()) if done else None
        return Sample(time.monotonic(), sum(ends.values()), lag)
