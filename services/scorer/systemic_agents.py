"""The scorer's systemic agents: spike counts and source volumes folded per key into systemic alerts
(services/scorer/systemic.py), the timers that nudge them by the wall clock, and the count of ingest's
refusals. Registered on the app by services/scorer/app.py.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from services.common.kafka import Record
from services.scorer import metrics
from services.scorer.app import (
    _publish,
    app,
    dead_letters_topic,
    processor,
    publishing,
    rules,
    settings,
    spike_counts_topic,
    spike_states,
)
from services.scorer.outgoing import SOURCE_PREFIX, alert_record
from services.scorer.systemic import Systemic

systemic = Systemic(rules, processor.routing)
spike_counts_arrived: dict[bytes, float] = {}


@app.agent(spike_counts_topic)
async def detect_spikes(stream: Any) -> None:
    """Fold spike counts and source volumes per key (services/scorer/systemic.py); publish what opens or
    resolves."""
    async for event in stream.events():
        now = time.time()
        message = orjson.loads(event.value)
        stored, alerts = systemic.fold(event.key, message, spike_states.get(event.key), now)
        if stored is None:
            spike_states.pop(event.key, None)
        else:
            spike_states[event.key] = stored
        if not event.key.startswith(SOURCE_PREFIX) and "bucket" in message:  # counts, not a nudge
            spike_counts_arrived[event.key] = now
        if alerts:
            await _publish([alert_record(alert, publishing.topics.alerts) for alert in alerts])
            for alert in alerts:
                metrics.count_alert(alert, now)


@app.timer(interval=rules.time.timer_interval_seconds * 5)
async def advance_quiet_spikes() -> None:
    """An open spike on a source that went quiet still clears: move its window on by the wall clock."""
    now = time.time()
    for key, raw in list(spike_states.items()):
        if key.startswith(SOURCE_PREFIX) or orjson.loads(raw)["open_alert"] is None:
            continue
        if now - spike_counts_arrived.get(key, float("-inf")) >= rules.time.idle_seconds:
            advance_to = now - rules.time.allowed_lateness_seconds
            await _publish(
                [Record(settings.spike_counts_topic, key, orjson.dumps({"advance_to": advance_to}))]
            )


worker_started = time.time()


@app.timer(interval=settings.scorer_source_check_interval_s)
async def check_sources() -> None:
    """Silence is judged by the wall clock: ask each watched source's state whether it went quiet (and
    move its refusal window on) through the topic, so that the worker holding it decides."""
    now = time.time()
    check = {"check": True, "since": worker_started, "advance_to": now - rules.time.allowed_lateness_seconds}
    value = orjson.dumps(check)
    await _publish(
        [
            Record(settings.spike_counts_topic, SOURCE_PREFIX + key.encode(), value)
            for key in rules.watched_sources
        ]
    )


@app.agent(dead_letters_topic)
async def count_refusals(stream: Any) -> None:
    """Ingest's dead letters of watched endpoints, counted per source key and bucket (source.rejecting)."""
    async for batch in stream.take(500, within=1.0):
        letters = []
        for value in batch:
            try:
                letters.append(orjson.loads(value))
            except orjson.JSONDecodeError:
                continue
        counts = systemic.refusal_counts(letters).items()
        await _publish(
            [
                Record(
                    settings.spike_counts_topic,
                    SOURCE_PREFIX + source.encode(),
                    orjson.dumps({"refused": buckets, "code": code}),
                )
                for (source, code), buckets in counts
            ]
        )
