"""Score records in Redis: the serving tier for deployments past one API replica's memory (issue 36).

Kafka stays the source of truth; Redis holds what the API serves, written by a sink from the compacted
`constituent-scores` topic and rebuilt by replaying it. Layout, per scoring model version (its own
namespace, so a what-if build never shows) and per Kafka partition (a hash tag, so a Redis Cluster shards
by partition and every key one record touches lies in one slot):

    mp:<version>:{p<partition>}:person:<id>   hash: record (the JSON as published), score, offset
    mp:<version>:{p<partition>}:rank           sorted set of everyone by overall score (ties by id)
    mp:<version>:{p<partition>}:rank:<role>    the same, per role of the model
    mp:<version>:{p<partition>}:recovery       hash: id → the person's open recovery cases (JSON, as shown)
    mp:<version>:{p<partition>}:recovery:steps hash: step of the dunning path → open cases at it
    mp:<version>:{p<partition>}:rows           hash: id → what a ranked list shows of the person
                                               (services/api/list_rows.py): one HMGET per partition
    mp:<version>:{p<partition>}:position:<topic>  the offset the sink has handled up to (``advance``)

Records are written by a Lua script (``WRITE``, many of one partition per call), each atomically and
**guarded by its Kafka offset**: a record
older than the one stored changes nothing, so a replay, a restarted sink or a second sink never writes an
older value over a newer one. A tombstone (an erasure) deletes the person and leaves only a marker of its
offset — no data — that expires after ``TOMBSTONE_TTL_S``, as Kafka forgets a tombstone after compaction's
delete retention; until then an older record replayed cannot bring the person back. Redis keeps the sink's
position per partition beside the data, so the two cannot disagree: a new or wiped Redis has none, and the
sink replays that partition from its beginning (services/sink/app.py). The distribution is
counted from the sorted sets (``ZCOUNT``: one source of truth, nothing to drift).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import orjson
from redis.asyncio import Redis

from services.api.list_rows import ListSummary, list_summary, packed, unpacked
from services.api.recovery_view import newest_first, open_cases_in
from services.common.murmur2 import partition_for
from services.domain.alerts.recovery import OPEN_STEPS
from services.domain.scoring_model import ScoringModel
from services.serving.coalescing import Coalescer
from services.serving.ranking import first_round, merge

TOMBSTONE_TTL_S = 86_400  # Kafka's default delete.retention.ms: how long a compacted topic keeps a tombstone

# One call writes many records of one partition (all its keys in the partition's slot), in order: a person
# twice in one call is written twice, the newer last. KEYS: everyone's rank, one rank per role (the
# model's, in order), the open recovery cases, their count per step, the list rows, then one person key
# per record. ARGV:
# the tombstone ttl, the number of roles, then per record (FIELDS): offset, constituent id, record ('' for
# a tombstone), score, one '1'/'0' per role, the person's open cases as JSON ('' for none), their steps
# (comma-separated), the list row's summary (``packed``).
FIELDS = 8
WRITE = """
local ttl = tonumber(ARGV[1])
local roles = tonumber(ARGV[2])
local recovery, steps, rows = KEYS[2 + roles], KEYS[3 + roles], KEYS[4 + roles]
local changed = 0
for i = 1, #KEYS - 4 - roles do
  local person = KEYS[4 + roles + i]
  local at = 2 + (i - 1) * 8
  local offset, id, record = ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  local score, flags, cases, open, row = ARGV[at + 4], ARGV[at + 5], ARGV[at + 6], ARGV[at + 7], ARGV[at + 8]
  local stored = redis.call('HMGET', person, 'offset', 'steps')
  if not stored[1] or tonumber(stored[1]) < tonumber(offset) then
    changed = changed + 1
    for r = 0, roles do redis.call('ZREM', KEYS[1 + r], id) end
    if stored[2] then
      for step in string.gmatch(stored[2], '[^,]+') do redis.call('HINCRBY', steps, step, -1) end
    end
    redis.call('HDEL', recovery, id)
    redis.call('HDEL', rows, id)
    redis.call('DEL', person)
    if record == '' then
      redis.call('HSET', person, 'offset', offset)
      redis.call('EXPIRE', person, ttl)
    else
      redis.call('HSET', person, 'offset', offset, 'record', record, 'score', score)
      redis.call('HSET', rows, id, row)
      redis.call('ZADD', KEYS[1], score, id)
      for r = 1, roles do
        if string.sub(flags, r, r) == '1' then redis.call('ZADD', KEYS[1 + r], score, id) end
      end
      if cases ~= '' then
        redis.call('HSET', recovery, id, cases)
        redis.call('HSET', person, 'steps', open)
        for step in string.gmatch(open, '[^,]+') do redis.call('HINCRBY', steps, step, 1) end
      end
    end
  end
end
return changed
"""
RECORDS_PER_CALL = 500  # one script call per partition and this many records: the client's cost per call

# KEYS: a partition's position; ARGV: the offset the sink has handled up to there (every record written
# or skipped). Keeps the highest; 0 when there was none: a new or wiped Redis (the sink rebuilds it).
ADVANCE = """
local had = redis.call('GET', KEYS[1])
if not had or tonumber(had) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
if had then return 1 end
return 0
"""


def roles_of(model: ScoringModel) -> list[str]:
    """The roles a model assigns, in the order the writer's role flags and the readers' rank keys use."""
    return sorted({rule.role for rule in model.roles})


@dataclass(frozen=True, slots=True)
class ScoreWrite:
    """One record of `constituent-scores` as the sink hands it on: where it was, and what it says."""

    partition: int
    offset: int
    key: bytes
    value: bytes | None  # None: a tombstone (the person erased)


@dataclass(frozen=True, slots=True)
class Written:
    changed: int  # newer than what Redis held: written
    unchanged: int  # as old as or older than what Redis held: nothing changed
    unreadable: int  # not a score record: skipped


class RedisScores:
    """One model version's score records in Redis: written by the sink, read by stateless API replicas."""

    def __init__(self, client: Redis, version: str, roles: Sequence[str], partitions: int) -> None:
        self._client = client
        self._prefix = f"mp:{version}"
        self._roles = tuple(roles)
        self._partitions = partitions
        self._reads = Coalescer(client)
        self._write = client.register_script(WRITE)
        self._advance = client.register_script(ADVANCE)

    def keys_of(self, partition: int, constituent_id: str) -> list[str]:
        """Every key a record of ``constituent_id`` on ``partition`` touches (one hash tag: one slot)."""
        return [
            self._person(partition, constituent_id),
            *self._ranks(partition),
            *self._recovery(partition),
            self._rows(partition),
        ]

    async def write(self, records: Iterable[ScoreWrite]) -> Written:
        """Apply ``records`` — one script call per partition and ``RECORDS_PER_CALL`` records, pipelined, in
        their order: how many changed something, how many were as old as or older than what Redis holds,
        how many were not score records (skipped)."""
        unreadable = 0
        by_partition: dict[int, list[tuple[str, list[Any]]]] = {}
        for record in records:
            constituent_id = record.key.decode()
            if record.value is None:
                fields: list[Any] = [record.offset, constituent_id, "", 0, "0" * len(self._roles), "", "", ""]
            else:
                try:
                    state, score, roles = _score_record(record.value)
                except ValueError:
                    unreadable += 1
                    continue
                flags = "".join("1" if role in roles else "0" for role in self._roles)
                cases = open_cases_in(constituent_id, state)  # read once (_score_record)
                shown = orjson.dumps(cases) if cases else b""
                steps = ",".join(case["step"] for case in cases)
                row = packed(list_summary(state))
                fields = [record.offset, constituent_id, record.value, repr(score), flags, shown, steps, row]
            by_partition.setdefault(record.partition, []).append((constituent_id, fields))
        calls = 0
        async with self._client.pipeline(transaction=False) as pipe:
            for partition, listed in by_partition.items():
                ranks = [*self._ranks(partition), *self._recovery(partition), self._rows(partition)]
                for start in range(0, len(listed), RECORDS_PER_CALL):
                    chunk = listed[start : start + RECORDS_PER_CALL]
                    keys = ranks + [self._person(partition, constituent_id) for constituent_id, _ in chunk]
                    args = [TOMBSTONE_TTL_S, len(self._roles), *(v for _, fields in chunk for v in fields)]
                    await self._write(keys=keys, args=args, client=pipe)
                    calls += 1
            results = await pipe.execute() if calls else []
        changed = sum(int(result) for result in results)
        total = sum(len(listed) for listed in by_partition.values())
        return Written(changed, total - changed, unreadable)

    def _person(self, partition: int, constituent_id: str) -> str:
        return f"{self._tag(partition)}:person:{constituent_id}"

    async def advance(self, topic: str, handled: dict[int, int]) -> set[int]:
        """Note, per partition of ``topic``, the offset handled up to (a position Redis keeps beside what it
        holds, so a new or wiped Redis says so); the partitions that had none: Redis lost what was written."""
        async with self._client.pipeline(transaction=False) as pipe:
            for partition, offset in handled.items():
                await self._advance(keys=[self._position(topic, partition)], args=[offset], client=pipe)
            had = await pipe.execute() if handled else []
        return {partition for partition, kept in zip(handled, had, strict=True) if not int(kept)}

    async def position(self, topic: str, partition: int) -> int | None:
        """The offset handled up to on ``partition`` of ``topic`` (None: nothing, or a new or wiped Redis)."""
        held = await self._client.get(self._position(topic, partition))
        return None if held is None else int(held)

    def _position(self, topic: str, partition: int) -> str:
        return f"{self._tag(partition)}:position:{topic}"

    def partition_of(self, constituent_id: str) -> int:
        """Where the scorer's records of this person go: Kafka's default partitioner over the id."""
        return partition_for(constituent_id.encode(), self._partitions)

    async def get(self, constituent_id: str) -> dict[str, Any] | None:
        person = self._person(self.partition_of(constituent_id), constituent_id)
        record = await self._reads.hget(person, "record")  # with the other GETs in flight
        return None if record is None else orjson.loads(record)

    async def ranked(
        self, *, ascending: bool, role: str | None, max_score: float | None, limit: int
    ) -> list[ListSummary]:
        """Constituents by score (lowest first when ``ascending``), of one role if given, at most
        ``max_score``: the heads of the partitions' sorted sets merged, read in at most two rounds
        (services/serving/ranking.py), then what a list shows of each."""
        if role is not None and role not in self._roles:
            return []
        read = first_round(limit, self._partitions)
        per_partition = await self._heads(ascending, role, max_score, range(self._partitions), 0, read)
        found, further = merge(per_partition, limit, ascending, read)
        if further:
            more = await self._heads(ascending, role, max_score, further, read, limit - read)
            for partition, rows in zip(further, more, strict=True):
                per_partition[partition] = [*per_partition[partition], *rows]
            found, _ = merge(per_partition, limit, ascending, limit)
        return await self._summaries([(partition, member.decode()) for _, member, partition in found])

    async def _summaries(self, people: list[tuple[int, str]]) -> list[ListSummary]:
        """What a list shows of each of ``people`` (partition, id), in order: one ``HMGET`` of the rows per
        partition, in one round trip; a person written by a sink from before rows has none, and is read
        from their record in a second."""
        by_partition: dict[int, list[str]] = {}
        for partition, constituent_id in people:
            by_partition.setdefault(partition, []).append(constituent_id)
        async with self._client.pipeline(transaction=False) as pipe:
            for partition, ids in by_partition.items():
                pipe.hmget(self._rows(partition), ids)
            held = dict(zip(by_partition, await pipe.execute() if people else [], strict=True))
        rows = {
            (partition, constituent_id): row
            for partition, ids in by_partition.items()
            for constituent_id, row in zip(ids, held[partition], strict=True)
        }
        older = [person for person in people if rows[person] is None]
        summaries = {person: unpacked(person[1], row) for person, row in rows.items() if row is not None}
        if older:  # rows of an older sink (or erased meanwhile): their records instead
            async with self._client.pipeline(transaction=False) as pipe:
                for partition, constituent_id in older:
                    pipe.hget(self._person(partition, constituent_id), "record")
                for person, record in zip(older, await pipe.execute(), strict=True):
                    if record is not None:
                        summaries[person] = list_summary(orjson.loads(record))
        return [summaries[person] for person in people if person in summaries]

    async def _heads(
        self,
        ascending: bool,
        role: str | None,
        max_score: float | None,
        partitions: Iterable[int],
        start: int,
        count: int,
    ) -> list[list[tuple[bytes, float]]]:
        """``count`` rows from the ``start``-th of each partition's ranking, in one round trip."""
        ceiling = "+inf" if max_score is None else repr(float(max_score))
        async with self._client.pipeline(transaction=False) as pipe:
            for partition in partitions:
                key = self._rank(partition, role)
                if ascending:
                    pipe.zrangebyscore(key, "-inf", ceiling, start=start, num=count, withscores=True)
                else:
                    pipe.zrevrangebyscore(key, ceiling, "-inf", start=start, num=count, withscores=True)
            return list(await pipe.execute())

    async def histogram(self, edges: list[float]) -> list[int]:
        """How many constituents score within each [edges[i], edges[i+1]) — the last bin everything from its
        lower edge up, as the in-memory view counts."""
        bins = list(pairwise(edges))
        async with self._client.pipeline(transaction=False) as pipe:
            for partition in range(self._partitions):
                key = self._rank(partition, None)
                for n, (lower, upper) in enumerate(bins):
                    top = "+inf" if n == len(bins) - 1 else f"({float(upper)!r}"
                    pipe.zcount(key, repr(float(lower)), top)
            counts = await pipe.execute()
        return [sum(counts[n :: len(bins)]) for n in range(len(bins))]

    async def population(self) -> int:
        async with self._client.pipeline(transaction=False) as pipe:
            for partition in range(self._partitions):
                pipe.zcard(self._rank(partition, None))
            return sum(await pipe.execute())

    async def open_by_step(self) -> dict[str, int]:
        """Open recovery cases per step of the dunning path, every partition's counts summed."""
        async with self._client.pipeline(transaction=False) as pipe:
            for partition in range(self._partitions):
                pipe.hgetall(self._recovery(partition)[1])
            counted = await pipe.execute()
        return {step: sum(int(counts.get(step.encode(), 0)) for counts in counted) for step in OPEN_STEPS}

    async def open_cases(self, step: str | None, limit: int) -> list[dict[str, Any]]:
        """Open recovery cases, the most recently opened first (optionally at one step), as the in-memory
        view answers; open cases are few (failed gifts being recovered), so all are read."""
        async with self._client.pipeline(transaction=False) as pipe:
            for partition in range(self._partitions):
                pipe.hvals(self._recovery(partition)[0])
            held = await pipe.execute()
        return newest_first(
            (case for listed in held for raw in listed for case in orjson.loads(raw)), step, limit
        )

    def _tag(self, partition: int) -> str:
        """The version's namespace and the partition's hash tag: every key of the partition in one slot."""
        return f"{self._prefix}:{{p{partition}}}"

    def _ranks(self, partition: int) -> list[str]:
        """Everyone's rank, then one per role of the model, in order."""
        return [self._rank(partition, None), *(self._rank(partition, role) for role in self._roles)]

    def _recovery(self, partition: int) -> list[str]:
        """The partition's open recovery cases (by person) and their count per step."""
        return [f"{self._tag(partition)}:recovery", f"{self._tag(partition)}:recovery:steps"]

    def _rows(self, partition: int) -> str:
        """The partition's list rows (by person)."""
        return f"{self._tag(partition)}:rows"

    def _rank(self, partition: int, role: str | None) -> str:
        return f"{self._tag(partition)}:rank" if role is None else f"{self._tag(partition)}:rank:{role}"


def _score_record(value: bytes) -> tuple[dict[str, Any], float, set[str]]:
    """A score record read: the state, its overall score and its roles (ValueError: not a score record)."""
    state = orjson.loads(value)  # a JSONDecodeError is a ValueError
    try:
        score, roles, _ = state["scores"]["overall"], state["roles"], state["constituent_id"]
    except (KeyError, TypeError) as error:
        raise ValueError(f"not a score record: {error!r}") from None
    if type(score) not in (int, float) or not isinstance(roles, list):
        raise ValueError("not a score record: overall score or roles of the wrong type")
    return state, float(score), set(roles)
