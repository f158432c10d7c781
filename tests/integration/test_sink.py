"""The sink writes the scores topic to Redis (services/sink/app.py), on the real broker and a real Redis:
what it leaves answers as the in-memory view of the same topic does, and a sink killed mid-load (SIGKILL,
between a write and its commit) and started again leaves every person at their newest record — counted
person by person against the offset of their last record on the topic, never by totals."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from services.api.score_view import ScoreView
from services.common.kafka import ensure_topics
from services.common.processes import free_port, start_service, stop
from services.domain.versions import ACTIVE_KEY, ModelVersion
from services.serving.redis_scores import RedisScores
from services.sink.namespaces import version_and_roles
from services.sink.settings import SinkSettings
from tests.fixtures.redis_server import redis_server
from tests.fixtures.system import isolated_topics
from tests.integration.test_redis_scores import redis_answers
from tests.unit.api.test_score_view import answers, replay

Topic = list[tuple[bytes, bytes | None]]


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A Redis of the test's own, as its topics are: what one test's sink wrote never meets another's."""
    with redis_server(tmp_path / "redis") as url:
        yield url


def sink_env(bootstrap: str, redis_url: str, topics: dict[str, str]) -> dict[str, str]:
    return {
        **{name: value for name, value in os.environ.items() if name != "MP_AUTH_CONFIG"},
        **topics,
        "MP_KAFKA_BOOTSTRAP": bootstrap,
        "MP_REDIS_URL": redis_url,
        "MP_SINK_GROUP": f"sink-{topics['MP_TOPIC_SCORES']}",
        "MP_SINK_METRICS_PORT": str(free_port()),
        "MP_SINK_BATCH_RECORDS": "200",  # many batches, so a kill falls between a write and its commit
    }


def sink_lag(port: int, topic: str, partitions: int) -> dict[int, float]:
    """The sink's mp_consumer_lag_messages per partition of ``topic``, once every partition has one."""
    deadline = time.monotonic() + 10
    while True:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        lag = {
            int(sample.labels["partition"]): sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "mp_consumer_lag_messages"
            for sample in family.samples
            if sample.labels["service"] == "sink" and sample.labels["topic"] == topic
        }
        if (len(lag) == 8 and set(lag.values()) == {0.0}) or time.monotonic() > deadline:
            return lag
        time.sleep(0.2)


async def produce(bootstrap: str, topic: str, records: Topic) -> dict[bytes, tuple[int, int]]:
    """Write ``records`` keyed as the scorer does; each person's (partition, offset) of their last one."""
    last: dict[bytes, tuple[int, int]] = {}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        sent = [(key, await producer.send(topic, value, key=key)) for key, value in records]
        for key, pending in sent:
            metadata = await pending
            last[key] = (metadata.partition, metadata.offset)
    finally:
        await producer.stop()
    return last


async def settled(store: RedisScores, client: Redis, last: dict[bytes, tuple[int, int]]) -> list[bytes]:
    """The people whose newest record Redis does not hold yet (by its offset), waited for up to 60 s."""
    behind: list[bytes] = list(last)
    deadline = time.monotonic() + 60
    while behind and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        behind = []
        for key, (partition, offset) in last.items():
            held = await client.hget(store.keys_of(partition, key.decode())[0], "offset")
            if held is None or int(held) != offset:
                behind.append(key)
    return behind


async def scores_topic_of_its_own(owner: str, bootstrap: str) -> tuple[dict[str, str], SinkSettings]:
    """Topics no other test uses (as the settings naming them), created, and a sink's settings for them."""
    topics = isolated_topics(owner)
    settings = SinkSettings(kafka_bootstrap=bootstrap, topic_scores=topics["MP_TOPIC_SCORES"])
    await ensure_topics(settings)
    return topics, settings


def store_for(client: Redis, settings: SinkSettings) -> RedisScores:
    version, roles = version_and_roles(settings)
    return RedisScores(client, version, roles, settings.topic_partitions)


async def test_the_sink_leaves_redis_answering_as_the_in_memory_view_of_the_same_topic(
    bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    topics, settings = await scores_topic_of_its_own("sink", bootstrap)
    records = replay(21, 600)  # re-scores, role changes, tombstones
    last = await produce(bootstrap, topics["MP_TOPIC_SCORES"], records)
    env = sink_env(bootstrap, redis_url, topics)
    sink = start_service("sink", env, tmp_path / "sink.log")
    client = Redis.from_url(redis_url)
    try:
        store = store_for(client, settings)
        assert await settled(store, client, last) == []
        view = ScoreView()
        for key, value in records:
            view.apply(key, value)
        assert await redis_answers(store) == answers(view)
        # how far Redis is behind the topic, per partition: nothing, once written (docs/operations.md)
        port, topic = int(env["MP_SINK_METRICS_PORT"]), topics["MP_TOPIC_SCORES"]
        lag = await asyncio.to_thread(sink_lag, port, topic, settings.topic_partitions)
        assert set(lag) == set(range(settings.topic_partitions)) and set(lag.values()) == {0.0}, lag
    finally:
        stop(sink)
        await client.aclose()


@pytest.mark.faults
async def test_a_sink_killed_mid_load_and_started_again_loses_no_update(
    bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    topics, settings = await scores_topic_of_its_own("sink-killed", bootstrap)
    env = sink_env(bootstrap, redis_url, topics)
    once = [(f"p-{n}".encode(), value) for n, (_, value) in enumerate(replay(23, 5_000))]
    records = once + replay(22, 1_000)  # 5,000 people once (any record skipped is a person lost) ...
    random.Random(3).shuffle(records)  # ... among 60 re-scored and erased over and over
    last = await produce(bootstrap, topics["MP_TOPIC_SCORES"], records)  # a backlog for the sink
    client = Redis.from_url(redis_url)
    store = store_for(client, settings)
    sink = start_service("sink", env, tmp_path / "sink-1.log")
    try:
        deadline = time.monotonic() + 60
        while await store.population() < 1_500:  # batches written and committed: kill it amid the rest
            assert time.monotonic() < deadline and sink.poll() is None, "the sink wrote nothing"
            await asyncio.sleep(0.01)
        sink.send_signal(signal.SIGKILL)
        sink.wait(timeout=10)
        assert 0 < await store.population() < len(set(dict(records)))  # killed mid-load, not after
        sink = start_service("sink", env, tmp_path / "sink-2.log")
        behind = await settled(store, client, last)
        assert behind == [], f"{len(behind)} people not at their newest record, e.g. {behind[:5]}"
        newest = dict(records)  # each person's last record, as the topic holds them last
        for key, value in newest.items():
            held = await store.get(key.decode())
            assert held == (None if value is None else orjson.loads(value)), key
    finally:
        stop(sink)
        await client.aclose()


@pytest.mark.faults
async def test_a_wiped_redis_is_rebuilt_from_the_topic_by_the_running_sink(
    bootstrap: str, tmp_path: Path
) -> None:
    """Redis keeps nothing on disk: a restarted Redis is empty, whatever offsets the sink's group committed.
    The sink finds its position gone with the data and replays the topic — running when Redis was wiped, or
    started on an empty one — and every person is back."""
    topics, settings = await scores_topic_of_its_own("sink-wiped", bootstrap)
    port = free_port()
    people = [(f"w-{n}".encode(), value) for n, (_, value) in enumerate(replay(24, 2_000))]
    with redis_server(tmp_path / "before", port) as url:
        env = sink_env(bootstrap, url, topics)
        sink = start_service("sink", env, tmp_path / "sink.log")
        client = Redis.from_url(url)
        try:
            last = await produce(bootstrap, topics["MP_TOPIC_SCORES"], people[:1_000])
            assert await settled(store_for(client, settings), client, last) == []
        finally:
            await client.aclose()
    try:
        with redis_server(tmp_path / "after", port) as url:  # the same address, nothing in it
            client = Redis.from_url(url)
            try:
                last |= await produce(bootstrap, topics["MP_TOPIC_SCORES"], people[1_000:])
                store = store_for(client, settings)
                behind = await settled(store, client, last)
                assert behind == [], f"{len(behind)} people not back, e.g. {behind[:5]}"
                scored = [key for key, value in dict(people).items() if value is not None]
                assert await store.population() == len(scored)  # the erased ones stay erased
            finally:
                await client.aclose()
        stop(sink)
        # and a sink starting on an empty Redis, its group's commits at the topic's end, replays it all too
        with redis_server(tmp_path / "again", port) as url:
            sink = start_service("sink", env, tmp_path / "sink-2.log")
            client = Redis.from_url(url)
            try:
                behind = await settled(store_for(client, settings), client, last)
                assert behind == [], f"{len(behind)} people not back after a restart, e.g. {behind[:5]}"
            finally:
                await client.aclose()
    finally:
        stop(sink)


async def test_the_sink_writes_the_live_model_versions_topic_into_that_versions_namespace_too(
    bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """A versioned rescore names its topic live (docs/scoring.md): the sink writes it under its version, so
    API replicas in Redis mode can switch to it; the configured model's topic is still written, apart."""
    topics, settings = await scores_topic_of_its_own("sink-versions", bootstrap)
    live_topic = topics["MP_TOPIC_SCORES"] + "-vlive"
    live = ModelVersion(
        version="live-version",
        app_id="rescore",
        scores_topic=live_topic,
        reports_topic=topics["MP_TOPIC_REPORTS"] + "-vlive",
        model_toml=settings.scoring_config.read_text(),
    )
    await ensure_topics(settings.model_copy(update={"topic_scores": live_topic}))
    base: Topic = [
        (f"b-{n}".encode(), value) for n, (_, value) in enumerate(replay(25, 50)) if value is not None
    ]
    rescored: Topic = [
        (f"r-{n}".encode(), value) for n, (_, value) in enumerate(replay(26, 60)) if value is not None
    ]
    last_base = await produce(bootstrap, topics["MP_TOPIC_SCORES"], base)
    sink = start_service("sink", sink_env(bootstrap, redis_url, topics), tmp_path / "sink.log")
    client = Redis.from_url(redis_url)
    try:
        configured = store_for(client, settings)
        assert await settled(configured, client, last_base) == []
        await produce(bootstrap, topics["MP_TOPIC_VERSIONS"], [(ACTIVE_KEY, live.encode())])
        last_live = await produce(bootstrap, live_topic, rescored)
        _, roles = version_and_roles(settings)
        versioned = RedisScores(client, live.version, roles, settings.topic_partitions)
        assert await settled(versioned, client, last_live) == []
        for key, _ in rescored:  # under the live version, not the configured one
            assert (
                await versioned.get(key.decode()) is not None and await configured.get(key.decode()) is None
            )
        for key, _ in base:
            assert (
                await configured.get(key.decode()) is not None and await versioned.get(key.decode()) is None
            )
        assert await versioned.population() == len(rescored)
    finally:
        stop(sink)
        await client.aclose()
