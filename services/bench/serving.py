"""The serving tier's bench (MP_SERVING=redis): the sink writing a population of score records into Redis
(Debian's redis-server, started here without persistence) — records/s and Redis's memory per person — then
API replicas reading it: ready time and RSS (an empty Redis against the loaded one: flat, whatever the
population) and the same read cases as the in-memory API's bench, open model."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import redis

from services.bench.baselines import create_topic, produce
from services.bench.http_cases import api_requests, published_states, start_api
from services.bench.measure import Figures
from services.common.processes import free_port, rss_bytes, start_service, stop
from services.common.settings import CommonSettings
from services.serving.local_redis import start_redis
from services.sink.namespaces import version_and_roles
from services.sink.settings import SinkSettings


def redis_serving(settings: CommonSettings, population: int, seconds: float) -> Figures:
    """``population`` score records (the API bench's people) written to a new topic; one sink writing them
    into an empty Redis (how fast, what each person costs Redis); then the API in Redis mode over it."""
    if shutil.which("redis-server") is None:
        return {"skipped": "redis-server is not installed (make bench installs it)"}
    topic = f"bench-sink-scores-{uuid.uuid4().hex[:6]}"
    empty_topic = f"bench-sink-empty-{uuid.uuid4().hex[:6]}"
    asyncio.run(create_topic(settings, topic))
    asyncio.run(create_topic(settings, empty_topic))
    asyncio.run(produce(settings, topic, published_states(population, topic), population, "scores"))
    figures: Figures = {"population": population}
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as workdir:
        port = free_port()
        server = start_redis(port, Path(workdir))
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        try:
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
                written_s = _until_written(client, SinkSettings(topic_scores=topic), population, started)
            finally:
                stop(sink, timeout_s=60)
            used = int(client.info("memory")["used_memory"])
            figures |= {
                "seconds": round(written_s, 2),
                "records_per_s": round(population / written_s),
                "redis_bytes_per_constituent": round((used - empty) / population),
                "redis_used_memory_bytes": used,
            }
            figures["api"] = _api_over_redis(settings, url, topic, empty_topic, population, seconds)
        finally:
            client.close()
            server.terminate()
            server.wait(timeout=60)
    return figures


def _api_over_redis(
    settings: CommonSettings, url: str, topic: str, empty_topic: str, population: int, seconds: float
) -> Figures:
    """An API replica in Redis mode over nobody (its own topic, an empty namespace), then over everyone."""
    figures: Figures = {}
    for name, scores in (("empty", empty_topic), ("loaded", topic)):
        process, api, ready_s = start_api(settings, scores, MP_SERVING="redis", MP_REDIS_URL=url)
        try:
            figures[f"{name}_ready_s"] = round(ready_s, 2)
            figures[f"{name}_rss_bytes"] = rss_bytes(process.pid)
            if name == "loaded":
                figures["requests"] = api_requests(api, population, seconds)
                figures["rss_bytes_after_requests"] = rss_bytes(process.pid)
        finally:
            stop(process, timeout_s=60)
    return figures


def _until_written(client: redis.Redis, settings: SinkSettings, population: int, started: float) -> float:
    """Seconds from the sink's start until Redis holds everyone (each partition's rank set counted)."""
    version, _ = version_and_roles(settings)
    ranks = [f"mp:{version}:{{p{p}}}:rank" for p in range(settings.topic_partitions)]
    while sum(int(client.zcard(rank)) for rank in ranks) < population:
        time.sleep(0.2)
        if time.perf_counter() - started > 3600:
            raise TimeoutError("the sink wrote less than everyone in an hour")
    return time.perf_counter() - started
