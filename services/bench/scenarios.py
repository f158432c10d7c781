"""Benchmark scenarios on the real broker, each reporting its figures beside a baseline from the same run."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from tqdm import tqdm

from services.bench.data import events
from services.common.readiness import wait_until_ready
from services.common.settings import REPO_ROOT, CommonSettings

Figures = dict[str, Any]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _create_topic(settings: CommonSettings, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, settings.topic_partitions, 1)])
    finally:
        await admin.close()


async def prefill(settings: CommonSettings, topic: str, count: int, constituents: int) -> Figures:
    """Write ``count`` events to a new topic; the producer's rate is a figure of its own."""
    await _create_topic(settings, topic)
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
        for key, value in tqdm(
            events(count, constituents), total=count, desc="prefill", unit="ev", leave=False
        ):
            pending.append(await producer.send(topic, value=value, key=key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    seconds = time.perf_counter() - started
    return {"events": count, "seconds": round(seconds, 2), "events_per_s": round(count / seconds)}


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
                    for record in records:
                        event = orjson.loads(record.value)
                        counts[event["constituent_id"]] = counts.get(event["constituent_id"], 0) + 1
                    seen += len(records)
                    bar.update(len(records))
    finally:
        await consumer.stop()
    seconds = time.perf_counter() - (started or time.perf_counter())
    return {
        "events": seen,
        "seconds": round(seconds, 2),
        "events_per_s": round(seen / seconds),
        "constituents": len(counts),
    }


def broker_consume(settings: CommonSettings, topic: str, count: int) -> Figures:
    """The broker's ceiling: kafka-consumer-perf-test from the broker's own jars."""
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
        str(count),
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
    return {
        "events": int(row["data.consumed.in.nMsg"]),
        "seconds": round(float(row["fetch.time.ms"]) / 1000, 2),
        "events_per_s": round(float(row["fetch.nMsg.sec"])),
    }


def metric_total(text: str, name: str) -> float:
    return sum(float(value) for value in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]


def scorer_consume(settings: CommonSettings, topic: str, count: int, store: str) -> Figures:
    """One scorer worker (full model, alert rules, changelog-backed table) over the pre-filled topic."""
    port = free_port()
    data = tempfile.mkdtemp(prefix="bench-scorer-")
    suffix = uuid.uuid4().hex[:6]
    env = {
        **os.environ,
        "MP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "MP_TOPIC_TOUCHPOINTS": topic,
        "MP_TOPIC_SCORES": f"bench-scores-{suffix}",
        "MP_TOPIC_ALERTS": f"bench-alerts-{suffix}",
        "MP_TOPIC_DEAD_LETTERS": f"bench-dlq-{suffix}",
        "MP_SCORER_APP_ID": f"bench-scorer-{suffix}",
        "MP_SCORER_WEB_PORT": str(port),
        "MP_SCORER_DATA_DIR": data,
        "MP_SCORER_STORE": store,
        "MP_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "scorer"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen = 0.0
    started = finished = None
    try:
        with tqdm(total=count, desc=f"scorer ({store})", unit="ev", leave=False) as bar:
            deadline = time.monotonic() + 1800
            while seen < count and time.monotonic() < deadline:
                if process.poll() is not None:
                    raise SystemExit(f"the scorer exited with {process.returncode}")
                try:
                    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
                except httpx.HTTPError:
                    time.sleep(0.5)
                    continue
                now_seen = metric_total(text, "mp_scorer_events_total")
                if now_seen and started is None:
                    started = time.perf_counter()
                bar.update(now_seen - seen)
                seen = now_seen
                time.sleep(0.5)
            finished = time.perf_counter()
            keys = metric_total(
                httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text, "mp_scorer_table_keys"
            )
            rss = rss_bytes(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    seconds = (finished or 0) - (started or 0)
    return {
        "events": int(seen),
        "seconds": round(seconds, 2),
        "events_per_s": round(seen / seconds),
        "constituents": int(keys),
        "rss_bytes": rss,
        "rss_bytes_per_constituent": round(rss / keys) if keys else None,
    }


def ingest_load(settings: CommonSettings, batch: int, seconds: float, connections: int) -> Figures:
    """Ingest under a load generator in another process: events/s and request latency percentiles."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name != "MP_AUTH_CONFIG"}
    env |= {
        "MP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "MP_INGEST_PORT": str(port),
        "MP_IDENTITY_SECRET": "bench",
        "MP_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "ingest"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/readyz", process, timeout_s=60)
        load = subprocess.run(
            [
                sys.executable,
                "-m",
                "services.bench.load",
                f"http://127.0.0.1:{port}",
                str(batch),
                str(seconds),
                str(connections),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 120,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    figures: Figures = orjson.loads(load.stdout)
    return figures


def percentiles(latencies: list[float]) -> dict[str, float]:
    if len(latencies) < 2:
        return {"p50_ms": 0.0, "p99_ms": 0.0}
    cuts = statistics.quantiles(latencies, n=100)
    return {"p50_ms": round(cuts[49] * 1000, 2), "p99_ms": round(cuts[98] * 1000, 2)}
