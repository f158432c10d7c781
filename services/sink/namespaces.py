"""Which scores topics the sink writes, each into its model version's namespace in Redis.

The configured model's topic (``MP_TOPIC_SCORES``, under the configured model's fingerprint) always; and
the topic of the version the versions topic names live (a versioned rescore, docs/scoring.md) under that
version — so an API replica in Redis mode finds a new version written, waits until it is caught up
(services/api/score_reads.py), and switches, as an in-memory replica does. A version live before the
latest one is no longer written: replicas still serving it switch once the new one is caught up.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio import Redis

from services.common.config_files import load_scoring_model
from services.common.follower import TopicFollower
from services.domain.scoring_model import ScoringModel
from services.domain.versions import ACTIVE_KEY, ModelVersion
from services.serving.redis_scores import RedisScores, roles_of
from services.sink.settings import SinkSettings

log = logging.getLogger(__name__)


def version_and_roles(settings: SinkSettings) -> tuple[str, list[str]]:
    """The configured model's version and its roles: its namespace and the rank sets written there."""
    model = load_scoring_model(settings.scoring_config)
    return model.fingerprint, roles_of(model)


class Namespaces:
    def __init__(self, settings: SinkSettings, client: Redis) -> None:
        self._settings = settings
        self._client = client
        self._configured = version_and_roles(settings)
        self._live: tuple[str, str, list[str]] | None = None  # the live version's topic, version, roles
        self.changed = asyncio.Event()  # set when the live version's topic changes: subscribe again
        self.follower = TopicFollower(settings, "sink", {settings.topic_versions: self._fold})

    def _fold(self, record: Any) -> None:
        if record.key != ACTIVE_KEY:
            return
        live = ModelVersion.decode(record.value)  # a ValueError: the follower counts and skips it
        if self._live is not None and self._live[1] == live.version:
            return
        model = ScoringModel.from_toml(live.model_toml, origin=f"model version {live.version}")
        self._live = (live.scores_topic, live.version, roles_of(model))
        log.info("the live model version's scores are written too", extra={"topic": live.scores_topic})
        self.changed.set()

    def stores(self) -> dict[str, RedisScores]:
        """Each topic to write and the namespace it is written to."""
        partitions = self._settings.topic_partitions
        version, roles = self._configured
        stores = {self._settings.topic_scores: RedisScores(self._client, version, roles, partitions)}
        if self._live is not None and self._live[0] not in stores:
            topic, version, roles = self._live
            stores[topic] = RedisScores(self._client, version, roles, partitions)
        return stores
