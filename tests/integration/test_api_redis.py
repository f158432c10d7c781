"""``MP_SERVING=redis``: API replicas read the scores the sink wrote to Redis (docs/serving.md), on the real
broker and real Redis processes — answering as an in-memory replica of the same system does, an erasure
leaving both Redis replicas, and a Sentinel failover under read load answered with 503 and Retry-After in
its window, never with a demoted or emptied Redis's data."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from services.common.processes import free_port, start_service, stop
from tests.fixtures.redis_server import redis_sentinel, redis_server
from tests.fixtures.system import isolated_topics, launch
from tests.fixtures.touchpoints import touchpoint
from tests.fixtures.waiting import post_each
from tests.integration.test_sink import produce
from tests.unit.api.test_score_view import folded_records

pytestmark = pytest.mark.integration
MOVING = ("as_of", "scores", "history", "explain", "counts", "score")  # "now" moves between two requests


@contextmanager
def replica(env: dict[str, str], log: Path, **settings: str) -> Iterator[str]:
    """One more API on ``env`` with ``settings``, until the block ends: its URL once ready."""
    port = free_port()
    process = start_service("api", {**env, "MP_API_PORT": str(port), **settings}, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url
    finally:
        stop(process)


@contextmanager
def sink(env: dict[str, str], log: Path) -> Iterator[None]:
    process = start_service(
        "sink",
        {**env, "MP_SINK_GROUP": f"sink-{uuid.uuid4().hex[:8]}", "MP_SINK_METRICS_PORT": str(free_port())},
        log,
    )
    try:
        yield
    finally:
        stop(process)


def wait_ready(url: str, process: subprocess.Popen[bytes] | None = None, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process is None or process.poll() is None, "the API exited"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready within {timeout_s:.0f} s")


def still(body: Any) -> Any:
    """An answer without what moves with the clock."""
    if isinstance(body, dict):
        return {k: still(v) for k, v in body.items() if k not in MOVING}
    if isinstance(body, list):
        return [still(item) for item in body]
    return body


READS = [
    "/v1/constituents?limit=1000",
    "/v1/constituents?order=desc&limit=7",
    "/v1/constituents?role=donor&limit=1000",
    "/v1/constituents?max_score=50&limit=1000",
    "/v1/scores/summary",
    "/v1/recovery",
]


def answers(url: str, people: list[str]) -> list[Any]:
    got: list[Any] = [(path, still(httpx.get(url + path).json())) for path in READS]
    for person in people:
        response = httpx.get(f"{url}/v1/constituents/{person}")
        got.append((person, response.status_code, still(response.json())))
    return got


def test_redis_replicas_answer_as_an_in_memory_one_and_an_erasure_leaves_both(
    bootstrap: str, tmp_path: Path
) -> None:
    with redis_server(tmp_path / "redis") as redis_url:
        serving = {"MP_SERVING": "redis", "MP_REDIS_URL": redis_url}
        with (
            launch(bootstrap, tmp_path / "system", **serving) as system,
            sink(system.env, tmp_path / "sink.log"),
        ):
            people = [f"rd-{n}-{uuid.uuid4().hex[:4]}" for n in range(24)]
            kinds = ["donation.succeeded", "donation.failed", "email.opened", "event.attended"]
            post_each(system, [touchpoint(p, kinds[n % 4], amount=10 + n) for n, p in enumerate(people)])
            post_each(system, [touchpoint(p, "donation.succeeded", amount=5) for p in people[::3]])
            with (
                replica(system.env, tmp_path / "second.log") as second,
                replica(system.env, tmp_path / "memory.log", MP_SERVING="memory") as memory,
            ):
                deadline, expected = time.monotonic() + 60, None
                while time.monotonic() < deadline:  # until the scorer has scored everyone and it settled
                    expected = answers(memory, people)
                    scored = all(status == 200 for _, status, _ in expected[len(READS) :])
                    if scored and answers(system.api_url, people) == expected == answers(second, people):
                        break
                    time.sleep(0.5)
                assert answers(system.api_url, people) == expected
                assert answers(second, people) == expected
                assert httpx.get(f"{second}/v1/system").json()["serving"] == "redis"

                erased = people[0]
                receipt = httpx.post(
                    f"{system.api_url}/v1/constituents/{erased}/erase", json={"reason": "asked"}, timeout=30
                )
                assert receipt.status_code == 200, receipt.text
                assert receipt.json()["removed"]["scores"] in ("removed", "pending")
                deadline = time.monotonic() + 60
                statuses: list[int] = []
                while time.monotonic() < deadline:
                    statuses = [
                        httpx.get(f"{url}/v1/constituents/{erased}").status_code
                        for url in (system.api_url, second, memory)
                    ]
                    if statuses == [404, 404, 404]:
                        break
                    time.sleep(0.3)
                assert statuses == [404, 404, 404]
                listed = httpx.get(f"{second}/v1/constituents?limit=1000").json()
                assert erased not in {row["constituent_id"] for row in listed["constituents"]}
                assert listed["population"] == len(people) - 1


@pytest.mark.faults
def test_a_sentinel_failover_under_read_load_answers_503_then_the_new_master_never_stale_data(
    bootstrap: str, tmp_path: Path
) -> None:
    master_port = free_port()
    topics = isolated_topics("api-redis-failover")
    records = folded_records(200, seed=5)  # what the scorer publishes, at scores set apart below
    people = [key.decode() for key, _ in records]
    first, second = scored_at(records, 40.0), scored_at(records, 70.0)
    with (
        redis_server(tmp_path / "master", master_port) as master_url,
        redis_server(tmp_path / "replica", None, "--replicaof", "127.0.0.1", str(master_port)),
        redis_sentinel(tmp_path / "sentinel", "mission-pulse", master_port) as sentinel_port,
    ):
        env = {
            **{name: value for name, value in os.environ.items() if name != "MP_AUTH_CONFIG"},
            **topics,
            "MP_KAFKA_BOOTSTRAP": bootstrap,
            "MP_ENVIRONMENT": "development",
            "MP_SERVING": "redis",
            "MP_REDIS_URL": "redis://",  # scheme, password and database; the master is the Sentinels' answer
            "MP_REDIS_SENTINELS": f"127.0.0.1:{sentinel_port}",
            "MP_REDIS_SENTINEL_MASTER": "mission-pulse",
            "MP_REDIS_TIMEOUT_S": "0.5",
        }
        asyncio.run(produce(bootstrap, topics["MP_TOPIC_SCORES"], first))
        port = free_port()
        api, process = f"http://127.0.0.1:{port}", start_service("api", {**env, "MP_API_PORT": str(port)})
        try:
            _not_ready_for(api, 4.0)  # no sink yet: Redis has not been written as far as the topic goes
            with sink(env, tmp_path / "sink.log"):
                wait_ready(api, process)
                assert _scores(api, people) == {40.0}  # ready only once everyone was written
                _failover(api, people, master_url, master_port, second, topics, bootstrap, tmp_path)
        finally:
            stop(process)


def _not_ready_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with suppress(httpx.TransportError):  # not listening yet
            assert httpx.get(f"{url}/readyz", timeout=2).status_code == 503
        time.sleep(0.1)


def _failover(
    api: str,
    people: list[str],
    master_url: str,
    master_port: int,
    second: list[tuple[bytes, bytes | None]],
    topics: dict[str, str],
    bootstrap: str,
    tmp_path: Path,
) -> None:
    """The master killed under read load, new scores written to the new master, the old one back empty."""
    master = _pid_on(master_url)
    seen = asyncio.run(_reads_while(api, people, lambda: os.kill(master, signal.SIGKILL), 12.0))
    refused = [answer for answer in seen if answer[0] == 503]
    assert refused, "no read fell in the failover's window: the master was not lost"
    assert all(retry == "2" for _, retry, _ in refused)
    assert {status for status, _, _ in seen} <= {200, 503}  # nothing else: no 500, no 404
    assert {score for status, _, score in seen if status == 200} == {40.0}
    assert seen[-1][0] == 200, "the API did not answer from the new master"

    asyncio.run(produce(bootstrap, topics["MP_TOPIC_SCORES"], second))  # written to the new master
    deadline = time.monotonic() + 60
    while _scores(api, people) != {70.0}:
        assert time.monotonic() < deadline, "the new scores never reached the API"
        time.sleep(0.3)
    # the old master comes back empty (no persistence) until Sentinel makes it a replica: no read
    # may reach it (a 404 would be its emptiness, a 40 its stale data)
    with redis_server(tmp_path / "old-master", master_port):
        after = asyncio.run(_reads_while(api, people, lambda: None, 6.0))
    assert {(status, score) for status, _, score in after} == {(200, 70.0)}


def scored_at(records: list[tuple[bytes, bytes]], overall: float) -> list[tuple[bytes, bytes | None]]:
    """The records with their overall score at the last event set to ``overall``."""
    rescored: list[tuple[bytes, bytes | None]] = []
    for key, value in records:
        state = orjson.loads(value)
        state["scores"]["overall"] = overall
        rescored.append((key, orjson.dumps(state)))
    return rescored


def _scores(url: str, people: list[str]) -> set[float | None]:
    """Each person's score at their last event as the API answers it (None: not a 200)."""
    return {_score(httpx.get(f"{url}/v1/constituents/{person}")) for person in people}


def _score(response: httpx.Response) -> float | None:
    if response.status_code != 200:
        return None
    return float(orjson.loads(response.content)["scores_at_last_event"]["overall"])


def _pid_on(url: str) -> int:
    return int(redis.Redis.from_url(url).info("server")["process_id"])


async def _reads_while(
    api: str, people: list[str], act: Any, seconds: float
) -> list[tuple[int, str | None, float | None]]:
    """GETs of ``people`` in turn, 4 at a time, for ``seconds``, ``act`` done after the first second: each
    answer's status, Retry-After and score at the last event."""
    seen: list[tuple[int, str | None, float | None]] = []
    async with httpx.AsyncClient(base_url=api, timeout=5) as client:
        started = time.monotonic()

        async def reader(offset: int) -> None:
            n = offset
            while time.monotonic() - started < seconds:
                response = await client.get(f"/v1/constituents/{people[n % len(people)]}")
                n += 4
                seen.append((response.status_code, response.headers.get("retry-after"), _score(response)))
                await asyncio.sleep(0.005)

        async def actor() -> None:
            await asyncio.sleep(1.0)
            act()

        await asyncio.gather(actor(), *(reader(offset) for offset in range(4)))
    return seen
