"""Model versions in the scorer (services/domain/versions.py): every worker follows the versions topic to know
whether its version is the live one — and so where its alerts and dead letters go — and a candidate started
by ``mission-pulse rescore --apply`` names itself live once it has caught up with the touchpoints. Registered
on the app by services/scorer/app.py.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from services.common.follower import TopicFollower
from services.common.group_offsets import KafkaOffsets
from services.common.kafka import KafkaUnavailable, Record
from services.domain.versions import ACTIVE_KEY, ModelVersion, is_live, unversioned
from services.scorer.app import _publish, app, model, publishing, settings
from services.scorer.promotion import Promotion

log = logging.getLogger(__name__)
PROMOTION_CHECK_S = 2.0
active: list[ModelVersion] = []  # the latest ``active`` record, once there is one
offsets = KafkaOffsets(settings)
promotion = Promotion(
    settings.scorer_app_id,
    settings.topic_touchpoints,
    settings.report_deltas_topic,
    lag_s=settings.scorer_commit_interval_s + PROMOTION_CHECK_S,
)


@app.on_before_shutdown.connect
async def close_offsets(sender: Any, **_: Any) -> None:
    await offsets.close()


def _fold(record: Any) -> None:
    """An ``active`` record: this worker is live when it names this worker's application id."""
    if record.key != ACTIVE_KEY:
        return
    named = ModelVersion.decode(record.value)  # VersionRecordError (a ValueError): the follower skips it
    active[:] = [named]
    live = is_live(settings.scorer_app_id, named, settings.scorer_candidate)
    if live != publishing.live:
        log.warning(
            "model version %s is live: %s",
            named.version,
            "publishing alerts to the shared topic"
            if live
            else f"this worker's alerts now go to {settings.shadow_alerts_topic}",
            extra={"active_app_id": named.app_id, "own_app_id": settings.scorer_app_id},
        )
        publishing.live = live


versions = TopicFollower(settings, "scorer", {settings.topic_versions: _fold})


@app.task
async def follow_versions() -> None:
    await versions.run()


@app.timer(interval=PROMOTION_CHECK_S)
async def name_itself_live() -> None:
    """A candidate writes the ``active`` record once services/scorer/promotion.py says it has caught up. It
    publishes to the shared topics from that moment, before the worker it replaces reads the record and
    stops: alerts of the hand-over may come twice (folded by their ids), never not at all."""
    if not settings.scorer_candidate or publishing.live or not versions.caught_up:
        return
    if app.rebalancing or app.in_recovery:
        return
    own = settings.scorer_app_id
    live_group = active[0].app_id if active else unversioned(own)
    try:
        now = await offsets.positions(
            (own, live_group), (settings.topic_touchpoints, settings.report_deltas_topic)
        )
    except KafkaUnavailable:
        return
    if not promotion.ready(time.monotonic(), now, live_group):
        return
    done, total = now.progress(own)
    version = ModelVersion(
        version=model.fingerprint,
        app_id=settings.scorer_app_id,
        scores_topic=settings.topic_scores,
        reports_topic=settings.topic_reports,
        model_toml=settings.scoring_config.read_text(encoding="utf-8"),
        activated_at=time.time(),
    )
    publishing.live = True
    await _publish([Record(settings.topic_versions, ACTIVE_KEY, version.encode())])
    log.warning(
        "caught up: model version %s is now the live one",
        version.version,
        extra={"scores_topic": version.scores_topic, "replaces": live_group, "behind_the_end": total - done},
    )
