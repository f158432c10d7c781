"""The watchdog's timer (services/scorer/watchdog.py): every 5 s, where the group's committed offsets and
the broker's ends are for the partitions this worker holds; a worker behind with nothing moving for
``MP_SCORER_STALL_AFTER_S`` exits with ``RESTART_EXIT_CODE`` for its supervisor to start a fresh one (nothing
is lost: its state is in its changelogs, and what it had not committed is read again). Registered on the
app by services/scorer/app.py.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from services.common.group_offsets import KafkaOffsets
from services.common.kafka import KafkaUnavailable
from services.common.processes import RESTART_EXIT_CODE  # mission-pulse run, Kubernetes, compose restart
from services.scorer import metrics
from services.scorer.app import activity, app, kafka, settings
from services.scorer.watchdog import Watchdog

log = logging.getLogger(__name__)
watchdog = Watchdog(settings.scorer_stall_after_s)
kafka_offsets = KafkaOffsets(settings)  # clients of its own: a consumer that stopped fetching learns nothing


@app.on_before_shutdown.connect
async def close_offsets(sender: Any, **_: Any) -> None:
    await kafka_offsets.close()


@app.timer(interval=5.0)
async def watch_for_a_stall() -> None:
    if not settings.scorer_stall_after_s or app.rebalancing or app.in_recovery or not kafka.reachable:
        return
    inputs = (settings.topic_touchpoints, settings.ticks_topic, settings.topic_erasures)
    assigned = [(tp.topic, tp.partition) for tp in app.consumer.assignment() if tp.topic in inputs]
    try:
        committed = await kafka_offsets.committed(settings.scorer_app_id, assigned)
        ends = await kafka_offsets.ends(assigned)
    except KafkaUnavailable:
        return
    behind = watchdog.stalled(ends, committed, activity, time.monotonic())
    metrics.STALLED.set(1 if behind else 0)
    if not behind:
        return
    log.error(
        "records wait on the broker and nothing is consumed: exiting so that a fresh worker takes over "
        "(faust-streaming#523, docs/reliability.md; nothing is lost)",
        extra={
            "behind": behind,
            "stalled_for_s": settings.scorer_stall_after_s,
            "exit_code": RESTART_EXIT_CODE,
        },
    )
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(RESTART_EXIT_CODE)  # no clean shutdown: it could wait on the stalled consumer itself
