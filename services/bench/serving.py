"""The serving tier's bench: the sink writing a population of score records into Redis (Debian's
redis-server, started here without persistence): records/s, and Redis's memory per person."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import redis

from services.bench.baselines import create_topic, produce
from services.bench.http_cases import published_states
from services.bench.measure import Figures
from services.common.processes import free_port, start_service, stop
from services.common.settings import CommonSettings
from services.sink.app import version_and_roles
from services.sink.settings import SinkSettings


def sink_throughput(settings: CommonSettings, population: int) -> Figures:
    """``population`` score records (the API bench's people) written to a new topic, then one sink writing
    them into an empty Redis: how fast, and what each person costs Redis."""
    binary = shutil.which("redis-server")
    if binary is None:
        return {"skipped": "redis-server is not installed (make bench installs it)"}
    topic = f"bench-sink-scores-{uuid.uuid4().hex[:6]}"
    asyncio.run(create_topic(settings, topic))
    asyncio.run(produce(settings, topic, published_states(population, topic), population, "scores"))
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as workdir:
        port = free_port()
        server = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
            ],
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        try:
            _wait_for(client)
            empty = int(client.info("memory")["used_memory"])
            env = {name: value for name, value in os.environ.items() if name != "MP_AUTH_CONFIG"}
            env |= {
                "MP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
                "MP_REDIS_URL": url,
                "MP_TOPIC_SCORES": topic,
                "MP_SINK_GROUP": f"bench-sink-{uuid.uuid4().hex[:6]}",
                "MP_SINK_METRICS_PORT": str(free_port()),
                "MP_LOG_LEVEL": "WARNING",
            }
            started = time.perf_counter()
            sink = start_service("sink", env, Path(workdir) / "sink.log")
            try:
                seconds = _until_written(client, SinkSettings(topic_scores=topic), population, started)
            finally:
                stop(sink, timeout_s=60)
            used = int(client.info("memory")["used_memory"])
        finally:
            client.close()
            server.terminate()
            server.wait(timeout=30)
    return {
        "population": population,
        "seconds": round(seconds, 2),
        "records_per_s": round(population / seconds),
        "redis_bytes_per_constituent": round((used - empty) / population),
    }


def _wait_for(client: redis.Redis) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _until_written(client: redis.Redis, settings: SinkSettings, population: int, started: float) -> float:
    """Seconds from the sink's start until Redis holds everyone (each partition's rank set counted)."""
    version, _ = version_and_roles(settings)
    ranks = [f"mp:{version}:{{p{p}}}:rank" for p in range(settings.topic_partitions)]
    while sum(int(client.zcard(rank)) for rank in ranks) < population:
        time.sleep(0.2)
        if time.perf_counter() - started > 1800:
            raise TimeoutError("the sink wrote less than everyone in 30 minutes")
    return time.perf_counter() - started
