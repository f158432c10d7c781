"""The views of one scoring model version (scores, recovery cases, report windows) and the switch between
versions: the API serves the version the versions topic names live (services/domain/versions.py), and a new
one only once its views have caught up with its topics — never a half-built one. Routes read
``ApiContext.scores`` (and the rest) per request, so a switch is one assignment between two requests.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from services.api.recovery_view import RecoveryView
from services.api.report_view import ReportView
from services.api.score_reads import MemoryReads, RedisReads, ScoreReads
from services.api.score_view import ScoreView, preset_dictionary
from services.api.settings import ApiSettings
from services.common.follower import TopicFollower
from services.common.gc_tuning import freeze_survivors
from services.domain.scoring_model import ScoringModel
from services.domain.versions import ACTIVE_KEY, ModelVersion
from services.serving.redis_scores import RedisScores, roles_of

log = logging.getLogger(__name__)


@dataclass
class ScoringViews:
    """One version's views, the follower that fills them, and where scores are read (``reads``)."""

    version: str
    model: ScoringModel
    reads: ScoreReads  # scores and recovery cases: this replica's memory, or Redis (MP_SERVING)
    reports: ReportView
    follower: TopicFollower
    redis: RedisReads | None = None  # in Redis mode: caught up once the sink has written the topic
    tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

    @classmethod
    def of(
        cls,
        settings: ApiSettings,
        model: ScoringModel,
        scores_topic: str,
        reports_topic: str,
        client: Redis | None = None,
    ) -> ScoringViews:
        """Its views, not started: scores folded into memory, or read from Redis through ``client``."""
        reports = ReportView()
        handlers: dict[str, Any] = {reports_topic: lambda record: reports.apply(record.key, record.value)}
        if client is not None:
            store = RedisScores(client, model.fingerprint, roles_of(model), settings.topic_partitions)
            redis = RedisReads(settings, store, scores_topic)
            follower = TopicFollower(settings, "api", handlers)
            return cls(model.fingerprint, model, redis, reports, follower, redis)
        scores, recovery = ScoreView(preset_dictionary(model)), RecoveryView()

        def caught_up() -> None:
            scores.caught_up()  # the dictionary trained and the indexes built with one sort, once
            freeze_survivors()  # what the replay left kept out of the garbage collector's full collections

        def fold_score(record: Any) -> None:
            scores.apply(record.key, record.value)
            recovery.apply(record.key, record.value)

        handlers[scores_topic] = fold_score
        follower = TopicFollower(settings, "api", handlers, on_caught_up=caught_up)
        return cls(model.fingerprint, model, MemoryReads(scores, recovery), reports, follower)

    @property
    def caught_up(self) -> bool:
        return self.follower.caught_up and (self.redis is None or self.redis.caught_up)

    async def wait_ready(self) -> None:
        await self.follower.ready.wait()
        if self.redis is not None:
            await self.redis.ready.wait()

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self.follower.run())]
        if self.redis is not None:
            self.tasks.append(asyncio.create_task(self.redis.run()))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task


class VersionSwitch:
    """Which version's views the API serves; follows the versions topic and switches once a new one is
    caught up."""

    def __init__(self, settings: ApiSettings, configured: ScoringModel, client: Redis | None = None) -> None:
        self._settings = settings
        self._client = client  # Redis mode: every version's scores read there
        self.active = ScoringViews.of(
            settings, configured, settings.topic_scores, settings.topic_reports, client
        )
        self.building: ScoringViews | None = None
        self._wanted: ModelVersion | None = None  # the latest ``active`` record
        self._changed = asyncio.Event()
        self._control = TopicFollower(settings, "api", {settings.topic_versions: self._fold})

    @property
    def caught_up(self) -> bool:
        """The views served are caught up: those of the version the versions topic named when the replica
        started (never the configured one if another is live), or of the one served while the next is built
        — a switch does not make every replica unready at once."""
        return self._control.caught_up and self.active.caught_up

    def _fold(self, record: Any) -> None:
        if record.key == ACTIVE_KEY:
            self._wanted = ModelVersion.decode(record.value)  # a ValueError: the follower skips the record
            self._changed.set()

    async def run(self) -> None:
        """The versions topic first (so that a restarted API builds only the live version's views), then
        the active views, then a switch whenever another version is named live."""
        control = asyncio.create_task(self._control.run())
        try:
            await self._control.ready.wait()
            if self._wanted is not None and self._wanted.version != self.active.version:
                self.active = self._views_of(self._wanted) or self.active
            self.active.start()
            while True:
                await self._changed.wait()
                self._changed.clear()
                wanted = self._wanted
                if wanted is not None and wanted.version != self.active.version:
                    await self._switch_to(wanted)
        finally:
            control.cancel()
            for views in (self.active, self.building):
                if views is not None:
                    await views.stop()

    def _views_of(self, version: ModelVersion) -> ScoringViews | None:
        """Its views, not started; None (and an error logged) when its model cannot be read."""
        try:
            model = ScoringModel.from_toml(version.model_toml, origin=f"model version {version.version}")
        except ValueError as error:
            log.error(
                "the live model version cannot be read; still serving %s",
                self.active.version,
                extra={"version": version.version, "error": str(error)},
            )
            return None
        return ScoringViews.of(
            self._settings, model, version.scores_topic, version.reports_topic, self._client
        )

    async def _switch_to(self, version: ModelVersion) -> None:
        views = self._views_of(version)
        if views is None:
            return
        log.info(
            "building the views of model version %s",
            version.version,
            extra={"scores_topic": version.scores_topic},
        )
        self.building = views
        views.start()
        await views.wait_ready()
        previous, self.active, self.building = self.active, views, None
        log.info(
            "switched to model version %s",
            version.version,
            extra={"population": views.reads.known_population(), "previous": previous.version},
        )
        await previous.stop()
