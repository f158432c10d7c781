"""Concurrent reads gathered into pipelined round trips (services/serving/coalescing.py), against a real
Redis: each caller gets its own answer, fewer round trips than callers, a failed round trip fails its
callers with Redis's error (the API's 503) and the next ones still go, and a caller that gives up takes
no one down with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from services.common.processes import free_port
from services.serving.coalescing import Coalescer
from tests.fixtures.redis_server import redis_server


class CountingRedis(Redis):
    """A client counting the pipelines it opens: one per round trip of the coalescer."""

    pipelines = 0

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        type(self).pipelines += 1
        return super().pipeline(*args, **kwargs)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    CountingRedis.pipelines = 0
    redis = CountingRedis.from_url(redis_url)
    yield redis
    await redis.aclose()


async def test_every_caller_gets_its_own_answer_in_fewer_round_trips(client: Redis) -> None:
    await client.delete(*(f"coalesce:{n}" for n in range(500)))
    for n in range(0, 500, 2):  # the odd ones are never written: None
        await client.hset(f"coalesce:{n}", mapping={"record": f"value-{n}", "other": "x"})
    CountingRedis.pipelines = 0
    reads = Coalescer(client, max_batch=64)

    answers = await asyncio.gather(*(reads.hget(f"coalesce:{n}", "record") for n in range(500)))

    assert answers == [f"value-{n}".encode() if n % 2 == 0 else None for n in range(500)]
    assert 500 // 64 <= CountingRedis.pipelines <= 500 // 64 + 2


async def test_a_failed_round_trip_fails_its_callers_and_the_next_one_goes(tmp_path: Path) -> None:
    port = free_port()
    client = Redis.from_url(f"redis://127.0.0.1:{port}", socket_connect_timeout=1)
    reads = Coalescer(client)
    try:
        failed = await asyncio.gather(
            *(reads.hget("coalesce:k", "record") for _ in range(20)), return_exceptions=True
        )
        assert all(isinstance(error, RedisConnectionError) for error in failed), failed

        with redis_server(tmp_path, port) as url:
            await Redis.from_url(url).hset("coalesce:k", "record", "back")
            assert (
                await asyncio.gather(*(reads.hget("coalesce:k", "record") for _ in range(20)))
                == [b"back"] * 20
            )
    finally:
        await client.aclose()


async def test_a_caller_that_gives_up_takes_no_one_down(client: Redis) -> None:
    await client.hset("coalesce:kept", "record", "kept")
    reads = Coalescer(client)
    given_up = asyncio.create_task(reads.hget("coalesce:kept", "record"))
    others = [asyncio.create_task(reads.hget("coalesce:kept", "record")) for _ in range(10)]
    await asyncio.sleep(0)  # all waiting: the round trip under way
    given_up.cancel()

    assert await asyncio.gather(*others) == [b"kept"] * 10
    assert given_up.cancelled()
    assert await reads.hget("coalesce:kept", "record") == b"kept"
