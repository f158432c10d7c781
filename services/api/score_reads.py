"""Where the API reads scores and recovery cases from: its own memory (the default) or Redis.

``MP_SERVING=memory``: every replica replays the compacted scores topic into ``ScoreView`` and
``RecoveryView`` (services/api/scoring_views.py) and answers from them. ``MP_SERVING=redis``: the sink
(services/sink/) writes the topic into Redis and replicas read it there (``RedisReads``) — stateless, ready
in seconds at any population. Routes see one interface, ``ScoreReads``; Redis being away is a
``redis.exceptions.RedisError``, which the API answers with 503 and Retry-After (services/api/app.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from services.api.list_rows import ListSummary, list_summary
from services.api.recovery_view import RecoveryView
from services.api.score_view import ScoreView
from services.api.settings import ApiSettings
from services.common.kafka import client_options, ensure_topics
from services.serving.redis_scores import RedisScores

log = logging.getLogger(__name__)

REFRESH_S = 5.0  # how often the counts the gauges show are read again from Redis


class ScoreReads(Protocol):
    async def get(self, constituent_id: str) -> dict[str, Any] | None: ...

    async def ranked(
        self, *, ascending: bool, role: str | None, max_score: float | None, limit: int
    ) -> list[ListSummary]:
        """What a ranked list shows of each person (services/api/list_rows.py), lowest score first when
        ``ascending``."""
        ...

    async def histogram(self, edges: list[float]) -> list[int]: ...

    async def population(self) -> int: ...

    async def open_by_step(self) -> dict[str, int]: ...

    async def open_cases(self, step: str | None, limit: int) -> list[dict[str, Any]]: ...

    def known_population(self) -> int:
        """The population as last known, without waiting (a gauge's value)."""
        ...

    def known_open(self, step: str) -> int:
        """Open recovery cases at ``step`` as last known, without waiting (a gauge's value)."""
        ...


class MemoryReads:
    """The replica's own views, folded from the topics (they answer at once)."""

    def __init__(self, scores: ScoreView, recovery: RecoveryView) -> None:
        self.scores = scores
        self.recovery = recovery

    async def get(self, constituent_id: str) -> dict[str, Any] | None:
        return self.scores.get(constituent_id)

    async def ranked(
        self, *, ascending: bool, role: str | None, max_score: float | None, limit: int
    ) -> list[ListSummary]:
        ranked = self.scores.ranked(ascending=ascending, role=role, max_score=max_score, limit=limit)
        return [list_summary(published) for published in ranked]

    async def histogram(self, edges: list[float]) -> list[int]:
        return self.scores.histogram(edges)

    async def population(self) -> int:
        return len(self.scores)

    async def open_by_step(self) -> dict[str, int]:
        return self.recovery.open_by_step()

    async def open_cases(self, step: str | None, limit: int) -> list[dict[str, Any]]:
        return self.recovery.open_cases(step, limit)

    def known_population(self) -> int:
        return len(self.scores)

    def known_open(self, step: str) -> int:
        return self.recovery.open_count(step)


class RedisReads:
    """One model version's scores in Redis, as the sink wrote them from ``scores_topic``.

    Caught up once the sink's position in Redis has reached, on every partition, the end the topic had when
    this started (so a replica never serves a version the sink is still writing — after a model switch, or
    while a new or wiped Redis is rebuilt); from then on it answers whatever Redis holds."""

    def __init__(self, settings: ApiSettings, store: RedisScores, scores_topic: str) -> None:
        self._settings = settings
        self._store = store
        self._topic = scores_topic
        self._population = 0
        self._open: dict[str, int] = {}
        self.ready = asyncio.Event()

    @property
    def caught_up(self) -> bool:
        return self.ready.is_set()

    async def get(self, constituent_id: str) -> dict[str, Any] | None:
        return await self._store.get(constituent_id)

    async def ranked(
        self, *, ascending: bool, role: str | None, max_score: float | None, limit: int
    ) -> list[ListSummary]:
        return await self._store.ranked(ascending=ascending, role=role, max_score=max_score, limit=limit)

    async def histogram(self, edges: list[float]) -> list[int]:
        return await self._store.histogram(edges)

    async def population(self) -> int:
        self._population = await self._store.population()
        return self._population

    async def open_by_step(self) -> dict[str, int]:
        self._open = await self._store.open_by_step()
        return self._open

    async def open_cases(self, step: str | None, limit: int) -> list[dict[str, Any]]:
        return await self._store.open_cases(step, limit)

    def known_population(self) -> int:
        return self._population

    def known_open(self, step: str) -> int:
        return self._open.get(step, 0)

    async def run(self) -> None:
        """Wait until the sink has written the topic as far as it reached now, then keep the counts fresh."""
        ends = await self._ends()
        while not self.ready.is_set():
            try:
                behind = [p for p, end in ends.items() if end and await self._handled(p) < end - 1]
                if not behind:
                    self.ready.set()
                    log.info("Redis caught up with the scores topic", extra={"topic": self._topic})
                    break
            except RedisError as error:
                log.warning("Redis unavailable; waiting for it", extra={"error": repr(error)})
            await asyncio.sleep(0.5)
        while True:
            try:
                await self.population()
                await self.open_by_step()
            except RedisError as error:
                log.warning("Redis unavailable; counts not refreshed", extra={"error": repr(error)})
            await asyncio.sleep(REFRESH_S)

    async def _handled(self, partition: int) -> int:
        handled = await self._store.position(self._topic, partition)
        return -1 if handled is None else handled

    async def _ends(self) -> dict[int, int]:
        """Each partition's end offset of the scores topic now (Kafka asked until it answers)."""
        while True:
            consumer = AIOKafkaConsumer(**client_options(self._settings), enable_auto_commit=False)
            try:
                await ensure_topics(self._settings)
                await consumer.start()
                # the partitions the scorer keys people over (RedisScores.partition_of assumes them too)
                tps = [TopicPartition(self._topic, p) for p in range(self._settings.topic_partitions)]
                async with asyncio.timeout(self._settings.kafka_request_timeout_s * 3):
                    ends = await consumer.end_offsets(tps)
                return {tp.partition: end for tp, end in ends.items()}
            except (KafkaError, OSError, TimeoutError) as error:
                log.warning("Kafka unavailable; waiting for it", extra={"error": repr(error)})
            finally:
                await consumer.stop()
            await asyncio.sleep(1.0)
