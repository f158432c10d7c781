"""Topics for the benchmarks and the baselines measured on them in the same run: how fast the producer
writes them, the broker's own consumer, and a plain aiokafka loop (the Python ceiling)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator
from itertools import islice

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from tqdm import tqdm

from services.bench.data import events
from services.bench.measure import Figures
from services.common.kafka import Record, records_by_partition
from services.common.settings import REPO_ROOT, CommonSettings


async def create_topic(settings: CommonSettings, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, settings.topic_partitions, 1)])
    finally:
        await admin.close()


REQUEST_EVENTS = 1000  # events per ingest request when the benchmark groups them as ingest does


def as_requests(keyed: Iterator[tuple[bytes, bytes]]) -> Iterator[list[tuple[bytes, bytes]]]:
    """The events as ingest receives them in batched POSTs: lists of ``REQUEST_EVENTS``."""
    return iter(lambda: list(islice(keyed, REQUEST_EVENTS)), [])


def layout(topic: str, count: int, constituents: int, grouped: bool, partitions: int) -> list[list[Record]]:
    """The benchmark's ``count`` events as records of ``topic``, request by request as ingest receives them
    (``REQUEST_EVENTS`` each): one record per event, or ``grouped`` as ingest writes a request (a JSON
    array per partition)."""
    requests = as_requests(events(count, constituents))
    if grouped:
        return [records_by_partition(topic, request, partitions) for request in requests]
    return [[Record(topic, key, value) for key, value in request] for request in requests]


async def prefill(settings: CommonSettings, topic: str, requests: list[list[Record]], count: int) -> Figures:
    """Write the ``count`` events laid out in ``requests`` (``layout``) to a new topic; the producer's rate
    is a figure of its own."""
    records = [record for request in requests for record in request]
    figures = await produce(settings, topic, records, len(records), "prefill")
    return {**figures, "events": count, "events_per_s": round(count / figures["seconds"])}


async def produce(
    settings: CommonSettings, topic: str, records: Iterable[Record], count: int, label: str
) -> Figures:
    """Write ``count`` records to a new topic."""
    await create_topic(settings, topic)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        linger_ms=5,
        acks="all",
        enable_idempotence=True,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for record in tqdm(records, total=count, desc=label, unit="rec", leave=False):
            pending.append(
                await producer.send(topic, value=record.value, key=record.key, partition=record.partition)
            )
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    seconds = time.perf_counter() - started
    return {"records": count, "seconds": round(seconds, 2), "records_per_s": round(count / seconds)}


async def plain_consume(settings: CommonSettings, topic: str, count: int) -> Figures:
    """The Python ceiling: aiokafka getmany + orjson decode + a dict update per event."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    counts: dict[str, int] = {}
    seen = 0
    try:
        with tqdm(total=count, desc="plain aiokafka loop", unit="ev", leave=False) as bar:
            started = None
            while seen < count:
                for records in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                    if started is None:
                        started = time.perf_counter()
                    before = seen
                    for record in records:
                        decoded = orjson.loads(record.value)
                        for event in decoded if isinstance(decoded, list) else [decoded]:
                            counts[event["constituent_id"]] = counts.get(event["constituent_id"], 0) + 1
                            seen += 1
                    bar.update(seen - before)
    finally:
        await consumer.stop()
    seconds = time.perf_counter() - (started or time.perf_counter())
    return {
        "events": seen,
        "seconds": round(seconds, 2),
        "events_per_s": round(seen / seconds),
        "constituents": len(counts),
    }


def broker_consume(settings: CommonSettings, topic: str, records: int, events: int) -> Figures:
    """The broker's ceiling: kafka-consumer-perf-test from the broker's own jars (it counts records; the
    events they hold are the same multiple of them)."""
    libs = os.environ.get("KAFKA_LIBS_DIR", str(REPO_ROOT / ".kafka" / "libs"))
    command = [
        "java",
        "-Xmx512m",
        "-cp",
        f"{libs}/*",
        "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server",
        settings.kafka_bootstrap,
        "--topic",
        topic,
        "--messages",
        str(records),
        "--group",
        f"bench-perf-{uuid.uuid4().hex[:6]}",
        "--timeout",
        "60000",
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300).stdout
    header, values = [line for line in output.splitlines() if line.strip()][-2:]
    row = dict(
        zip([h.strip() for h in header.split(",")], [v.strip() for v in values.split(",")], strict=False)
    )
    consumed = int(row["data.consumed.in.nMsg"])
    return {
        "records": consumed,
        "events": round(consumed * events / records),
        "seconds": round(float(row["fetch.time.ms"]) / 1000, 2),
        "events_per_s": round(float(row["fetch.nMsg.sec"]) * events / records),
    }
