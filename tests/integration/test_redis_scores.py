"""Score records in a real Redis (services/serving/redis_scores.py): the serving tier answers as the
in-memory view does, a record older than the one held never wins — however often a topic is replayed or
by how many sinks — an erasure deletes the person and stays deleted, and every key one record touches
lies in one Redis Cluster slot."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from services.api.list_rows import list_summary
from services.api.recovery_view import RecoveryView
from services.api.score_view import ScoreView
from services.common.murmur2 import partition_for
from services.domain.alerts.recovery import OPEN_STEPS
from services.serving.redis_scores import RedisScores, ScoreWrite
from tests.unit.api.test_score_view import ROLES, answers, published, replay

PARTITIONS = 4


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_url)
    yield redis
    await redis.aclose()


def scores(client: Redis, version: str) -> RedisScores:
    return RedisScores(client, version, ROLES, PARTITIONS)


def as_written(records: list[tuple[bytes, bytes | None]]) -> list[ScoreWrite]:
    """The records as a compacted topic of PARTITIONS partitions holds them: each person's on the partition
    Kafka's default partitioner gives, offsets counting up per partition."""
    offsets = [0] * PARTITIONS
    written = []
    for key, value in records:
        partition = partition_for(key, PARTITIONS)
        written.append(ScoreWrite(partition, offsets[partition], key, value))
        offsets[partition] += 1
    return written


async def redis_answers(store: RedisScores) -> list[Any]:
    """What ``answers`` reads off an in-memory view, read off Redis."""
    out: list[Any] = [await store.histogram([0.0, 20.0, 50.0, 100.0])]
    for role in (None, *ROLES):
        for ascending in (True, False):
            for max_score in (None, 40.0):
                ranked = await store.ranked(ascending=ascending, role=role, max_score=max_score, limit=1000)
                out.append([(row["constituent_id"], row["score_at_last_event"]) for row in ranked])
    return out


@pytest.mark.parametrize("seed", range(3))
async def test_redis_answers_every_ranking_and_the_distribution_as_the_in_memory_view(
    client: Redis, seed: int
) -> None:
    records = replay(seed, 400)  # re-scores, role changes, tombstones, ties ordered by id
    view, store = ScoreView(), scores(client, f"v-diff-{seed}")
    for key, value in records:
        view.apply(key, value)
    assert (await store.write(as_written(records))).changed == len(records)  # each newer than the last
    expected = answers(view)
    assert any(expected[1:])  # people are ranked: not vacuous
    assert await redis_answers(store) == expected
    assert await store.population() == len(view)
    for person in {key.decode() for key, _ in records}:
        assert await store.get(person) == view.get(person)
    for limit in (3, 10, 25):  # a round of a few of each partition, and a second where it falls short
        for ascending in (True, False):
            for role in (None, *ROLES):
                for max_score in (None, 40.0):
                    asked = {"ascending": ascending, "role": role, "max_score": max_score, "limit": limit}
                    limited = await store.ranked(**asked)  # type: ignore[arg-type]
                    expected_rows = [list_summary(s) for s in view.ranked(**asked)]  # type: ignore[arg-type]
                    assert limited == expected_rows, asked


async def test_people_written_by_a_sink_from_before_list_rows_are_listed_from_their_records(
    client: Redis,
) -> None:
    records = replay(4, 200)
    view, store = ScoreView(), scores(client, "v-before-rows")
    for key, value in records:
        view.apply(key, value)
    await store.write(as_written(records))
    people = sorted({key.decode() for key, _ in records})
    for person in people[::2]:  # as an older sink wrote them: the record, no row
        assert await client.hdel(store.keys_of(store.partition_of(person), person)[-1], person) == (
            view.get(person) is not None
        )
    asked = {"ascending": True, "role": None, "max_score": None, "limit": 1000}
    expected = [list_summary(s) for s in view.ranked(**asked)]  # type: ignore[arg-type]
    assert len(expected) > 50
    assert await store.ranked(**asked) == expected  # type: ignore[arg-type]


async def test_a_record_older_than_the_one_held_never_wins_however_often_it_is_replayed(
    client: Redis,
) -> None:
    records = as_written(replay(11, 300))
    store, reference = scores(client, "v-replay"), scores(client, "v-replay-reference")
    await reference.write(records)
    await store.write(records)
    rng = random.Random(5)
    for _ in range(3):  # replays from anywhere, a second sink behind the first, shuffled batches
        start = rng.randrange(len(records))
        again = records[start:] + records[: rng.randrange(len(records))]
        rng.shuffle(again)
        assert (await store.write(again)).changed == 0  # nothing newer: nothing changed
    assert await redis_answers(store) == await redis_answers(reference)
    newest = {record.key: record for record in records}  # offsets increase: the last one per person
    for key, record in newest.items():
        held = await store.get(key.decode())
        assert (held is None) == (record.value is None)


async def test_an_erased_person_is_gone_and_an_older_record_replayed_cannot_bring_them_back(
    client: Redis,
) -> None:
    store = scores(client, "v-erasure")
    person, partition = b"c-erased", partition_for(b"c-erased", PARTITIONS)
    await store.write([ScoreWrite(partition, 7, person, published("c-erased", 12.5, ("donor",)))])
    assert await store.ranked(ascending=True, role="donor", max_score=None, limit=5)
    assert (await store.write([ScoreWrite(partition, 9, person, None)])).changed == 1  # the tombstone
    assert await store.get("c-erased") is None
    assert await store.population() == 0
    assert await store.ranked(ascending=True, role="donor", max_score=None, limit=5) == []
    held = await client.hgetall(store.keys_of(partition, "c-erased")[0])
    assert held == {b"offset": b"9"}  # only the offset, no data ...
    assert not await client.hexists(store.keys_of(partition, "c-erased")[-1], "c-erased")  # no list row
    assert 0 < await client.ttl(store.keys_of(partition, "c-erased")[0]) <= 86_400  # ... and not for ever
    assert (await store.write([ScoreWrite(partition, 7, person, published("c-erased", 12.5))])).changed == 0
    assert await store.get("c-erased") is None  # a replay of the older record stays out
    assert (await store.write([ScoreWrite(partition, 10, person, published("c-erased", 60.0))])).changed == 1
    assert (await store.get("c-erased"))["scores"]["overall"] == 60.0  # type: ignore[index]
    assert await client.ttl(store.keys_of(partition, "c-erased")[0]) == -1  # scored again: kept


async def test_model_versions_never_see_each_others_records(client: Redis) -> None:
    live, what_if = scores(client, "v-live"), scores(client, "v-what-if")
    partition = partition_for(b"c-1", PARTITIONS)
    await what_if.write([ScoreWrite(partition, 0, b"c-1", published("c-1", 30.0))])
    assert await live.get("c-1") is None and await live.population() == 0
    assert await what_if.population() == 1


def test_every_key_one_record_touches_lies_in_one_cluster_slot_of_its_partition() -> None:
    store = RedisScores(Redis(), "v1", ROLES, PARTITIONS)  # no connection: only the layout
    for person in ("c-1", "c-2", "Zoë", "with/slash"):
        for partition in range(PARTITIONS):
            keys = store.keys_of(partition, person)
            assert len({key_slot(key.encode()) for key in keys}) == 1
            assert len(keys) == 5 + len(ROLES)  # the person, the ranks, two of recovery, the rows
    slots = {key_slot(store.keys_of(p, "c-1")[0].encode()) for p in range(PARTITIONS)}
    assert len(slots) == PARTITIONS  # partitions spread over slots: a cluster shards them


async def test_a_value_that_is_not_a_score_record_is_skipped_and_the_rest_written(client: Redis) -> None:
    store = scores(client, "v-unreadable")
    partition = partition_for(b"c-ok", PARTITIONS)
    bad = (b"{}", b'{"scores": {"overall": "high"}, "roles": []}', b"[1]", b'{"scores": 1}', b"{oops")
    written = await store.write(
        [ScoreWrite(partition, n, b"c-bad", value) for n, value in enumerate(bad)]
        + [ScoreWrite(partition, 9, b"c-ok", published("c-ok", 50.0))]
    )
    assert (written.changed, written.unchanged, written.unreadable) == (1, 0, len(bad))
    assert await store.get("c-bad") is None and await store.population() == 1


def with_recovery(seed: int, count: int) -> list[tuple[bytes, bytes | None]]:
    """Score records carrying recovery cases: opened, moved along the dunning path, closed; some erased."""
    rng = random.Random(seed)
    steps = [{}, {"email_sent_at": 1.0}, {"email_sent_at": 1.0, "delivered_at": 2.0}, {"bounced_at": 3.0}]
    steps.append({"method_updated_at": 4.0})
    records: list[tuple[bytes, bytes | None]] = []
    for n in range(count):
        person = f"c-{rng.randrange(40)}"
        if rng.random() < 0.1:
            records.append((person.encode(), None))
            continue
        cases = [
            {
                "case_id": f"k-{n}-{c}",
                "opened_at": n + c / 10,  # no two alike: the newest-first order is the same everywhere
                "amount": 25.0,
                "facts": rng.choice(steps),
                "alerted": True,
                **({"outcome": "recovered"} if rng.random() < 0.3 else {}),
            }
            for c in range(rng.choice([0, 0, 1, 2]))
        ]
        state = orjson.loads(published(person, 50.0, ()))
        records.append((person.encode(), orjson.dumps({**state, "recovery": cases})))
    return records


@pytest.mark.parametrize("seed", range(2))
async def test_redis_holds_the_open_recovery_cases_as_the_in_memory_view(client: Redis, seed: int) -> None:
    records = with_recovery(seed, 300)
    view, store = RecoveryView(), scores(client, f"v-recovery-{seed}")
    for key, value in records:
        view.apply(key, value)
    await store.write(as_written(records))
    await store.write(as_written(records[: len(records) // 2]))  # a replay of older records changes nothing
    assert sum(view.open_by_step().values()) > 5  # cases are open: not vacuous
    assert await store.open_by_step() == view.open_by_step()
    for step in (None, *OPEN_STEPS):
        assert await store.open_cases(step, 1000) == view.open_cases(step, 1000), step
    assert await store.open_cases(None, 3) == view.open_cases(None, 3)
