"""The scorer's stall watch (services/scorer/stalls.py): every 5 s, what the worker fetched, processed and
committed, and what waits on the broker; a stalled worker fetches again from its committed offsets, and one
still stalled after that exits with ``RESTART_EXIT_CODE`` for its supervisor to start a fresh one (nothing is
lost: its state is in its changelogs and what it had not committed comes again). And the commit guard
(``HeldCommits``): no commit past a record the agent never acknowledged, and a partition whose commit is held
at one offset fetched again from it. Registered on the app by services/scorer/app.py.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from services.common.kafka import KafkaUnavailable
from services.common.processes import RESTART_EXIT_CODE  # mission-pulse run, Kubernetes, compose restart
from services.scorer import metrics
from services.scorer.app import activity, app, gapless, kafka, kafka_offsets, reading_starts, settings
from services.scorer.stalls import HeldCommits, Progress, StallWatch
from services.scorer.stores import (
    fetch_again_from,
    fetch_again_from_committed,
    guard_commits,
    withheld_commits,
)

log = logging.getLogger(__name__)
stall_watch = StallWatch(settings.scorer_stall_after_s)


@app.on_before_shutdown.connect
async def close_offsets(sender: Any, **_: Any) -> None:
    await kafka_offsets.close()


@app.timer(interval=5.0)
async def watch_for_stalls() -> None:
    """Records fetched that the agent never received, or records waiting on the broker that the consumer
    stopped fetching, nothing else happening: fetch them again; exit if that did not help."""
    if not settings.scorer_stall_after_s or app.rebalancing or app.in_recovery or not kafka.reachable:
        return
    inputs = {settings.topic_touchpoints, settings.ticks_topic, settings.topic_erasures}
    assigned = [tp for tp in app.consumer.assignment() if tp.topic in inputs]
    uncompacted = [(tp.topic, tp.partition) for tp in assigned if tp.topic != settings.topic_erasures]
    try:
        committed = await kafka_offsets.committed(
            settings.scorer_app_id, ((tp.topic, tp.partition) for tp in assigned)
        )
        ends = await kafka_offsets.ends(uncompacted)
    except KafkaUnavailable:
        return
    fetched = {}
    for tp in assigned:
        position = await app.consumer.position(tp)
        if position is not None:
            fetched[f"{tp.topic}:{tp.partition}"] = position
    progress = Progress(
        fetched, committed, dict(activity.processed), activity.batches_done, activity.in_batch, ends
    )
    behind = stall_watch.stalled(progress, time.monotonic())
    if not behind:
        return
    if stall_watch.remedy_failed():
        log.error(
            "still stalled after fetching again: exiting so that a fresh worker takes over "
            "(a faust-streaming fault, docs/reliability.md; nothing is lost)",
            extra={"behind": behind, "exit_code": RESTART_EXIT_CODE},
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(RESTART_EXIT_CODE)  # no clean shutdown: it could wait on the stalled consumer itself
    log.warning(
        "records not scored, and no batch for a while: fetching again from the committed offsets "
        "(a faust-streaming fault, docs/reliability.md)",
        extra={
            "behind": behind,
            "fetched": bool(progress.behind()),
            "stalled_for_s": settings.scorer_stall_after_s,
        },
    )
    metrics.REFETCHES.labels("stalled").inc()
    repeated = sum(max(0, activity.processed.get(tp, 0) - offset) for tp, offset in committed.items())
    metrics.REPEATED_BY_REFETCH.labels("stalled").inc(repeated)
    await fetch_again_from_committed(app)


held_commits = HeldCommits()


def _faust_saw_a_jump(topic: str, partition: int, start: int, end: int) -> None:
    log.warning(
        "fetched offsets jumped: not committing past the missing ones (services/scorer/stalls.py)",
        extra={
            "topic": topic,
            "partition": partition,
            "from_offset": start,
            "to_offset": end,
            "generation": app.consumer_generation_id,
            "in_recovery": app.in_recovery,
        },
    )


@app.task
async def guard_the_commits() -> None:
    """Before anything is processed: no commit past a record the agent never acknowledged."""
    guard_commits(app, gapless, held_commits, _faust_saw_a_jump, reading_starts.uncommitted)


@app.timer(interval=5.0)
async def fetch_withheld_heads() -> None:
    """A commit withheld because the record at the committed offset never reached the agent: fetch that
    partition again from it."""
    if app.rebalancing or app.in_recovery:
        return
    withheld = withheld_commits(app, gapless, held_commits, reading_starts.uncommitted)
    due = held_commits.due({tp: committed for tp, (committed, _) in withheld.items()}, time.monotonic())
    for tp, committed in due.items():
        topic, partition = tp.rsplit(":", 1)
        lowest = withheld[tp][1]
        log.warning(
            "a commit withheld: records at the committed offset never reached the agent; fetching the "
            "partition again from there (faust-streaming#606, docs/reliability.md)",
            extra={
                "topic": topic,
                "partition": int(partition),
                "from_offset": committed,
                "to_offset": lowest,
            },
        )
        metrics.REFETCHES.labels("held").inc()
        metrics.REPEATED_BY_REFETCH.labels("held").inc(max(0, activity.processed.get(tp, lowest) - lowest))
        await fetch_again_from(app, topic, int(partition), committed)
