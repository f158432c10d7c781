"""The Faust wiring around services.scorer.processing: batches in, table writes and topics out.

Run with ``mission-pulse scorer`` (which is ``faust -A services.scorer.app worker``).
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import faust
import orjson
from faust.streams import _current_event
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from services.common.scoring_config import load_scoring_model
from services.domain.events import metric_labels
from services.domain.scoring import ConstituentState
from services.scorer.processing import process_batch, score_record
from services.scorer.settings import ScorerSettings

settings = ScorerSettings()
model = load_scoring_model(settings.scoring_config)

EVENTS = Counter(
    "mp_scorer_events_total",
    "Touchpoints folded into scores, by source, type and outcome (scored, duplicate, unknown_type).",
    ["source", "type", "outcome"],
)
EVENT_TIME_LAG = Histogram(
    "mp_scorer_event_time_lag_seconds",
    "Wall-clock time when scored minus the event's occurred_at.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400),
)
ALERTS = Counter("mp_scorer_alerts_emitted_total", "Alert updates published, by kind.", ["kind"])
DEAD_LETTERS = Counter("mp_scorer_dead_letters_total", "Records the scorer could not read, dead-lettered.")
BATCH_SIZE = Histogram(
    "mp_scorer_batch_events", "Events per processed batch.", buckets=(1, 10, 50, 100, 250, 500, 1000, 5000)
)
TABLE_KEYS = Gauge("mp_scorer_table_keys", "Constituents held in this worker's state table.")

app = faust.App(
    settings.scorer_app_id,
    broker=";".join(f"kafka://{server}" for server in settings.kafka_bootstrap.split(",")),
    store=settings.scorer_store,
    datadir=str(settings.scorer_data_dir),
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=settings.topic_replication,
    web_bind=settings.scorer_web_host,
    web_port=settings.scorer_web_port,
    producer_acks=-1,
    producer_linger_ms=5,
    key_serializer="raw",
    value_serializer="raw",
    consumer_auto_offset_reset="earliest",
    broker_session_timeout=settings.scorer_session_timeout_s,
    broker_heartbeat_interval=settings.scorer_session_timeout_s / 5,
)
touchpoints = app.topic(settings.topic_touchpoints, key_type=bytes, value_type=bytes)
scores_topic = app.topic(settings.topic_scores, key_type=bytes, value_type=bytes)
alerts_topic = app.topic(settings.topic_alerts, key_type=bytes, value_type=bytes)
dead_letters_topic = app.topic(settings.topic_dead_letters, key_type=bytes, value_type=bytes)
# Keyed by the constituent id's bytes; each key lives in the changelog partition of its source events.
states = app.Table(
    "constituent-state",
    partitions=settings.topic_partitions,
    key_type=bytes,
    value_type=bytes,
)
TABLE_KEYS.set_function(lambda: len(states))


def _load_state(constituent_id: str) -> ConstituentState | None:
    stored = states.get(constituent_id.encode())
    return None if stored is None else ConstituentState.from_dict(orjson.loads(stored))


def _write_state(key: bytes, value: bytes, source_event: Any) -> None:
    """Write a table key as if while processing ``source_event`` (one of that key's events).

    Faust picks the changelog partition, and the RocksDB store its partition database, from the stream's
    "current event", which a batch from take_events() does not set; setting it per key keeps both right.
    """
    token = _current_event.set(weakref.ref(source_event))
    try:
        states[key] = value
    finally:
        _current_event.reset(token)


@app.agent(touchpoints)
async def score(stream: Any) -> None:
    """Fold each batch into the table once per constituent; publish new scores, alerts, dead letters."""
    async for batch in stream.take_events(settings.scorer_batch_size, within=settings.scorer_batch_within_s):
        now = time.time()
        result = process_batch([(event.key, event.value) for event in batch], _load_state, model, now)
        source_events = {event.key: event for event in batch}
        for constituent_id, state in result.changed.items():
            key = constituent_id.encode()
            _write_state(key, orjson.dumps(state.to_dict()), source_events[key])
            await scores_topic.send(key=key, value=orjson.dumps(score_record(state, model, now)))
        for alert in result.alerts:
            await alerts_topic.send(key=alert["alert_id"].encode(), value=orjson.dumps(alert))
            ALERTS.labels(alert["kind"]).inc()
        for dead in result.dead_letters:
            envelope = {
                "reason": dead.reason,
                "service": "scorer",
                "payload": dead.raw.decode("utf-8", "replace"),
            }
            await dead_letters_topic.send(value=orjson.dumps(envelope))
            DEAD_LETTERS.inc()
        for event_time in result.event_times:
            EVENT_TIME_LAG.observe(max(0.0, now - event_time))
        for (source, event_type, outcome), count in result.outcomes.items():
            labels = metric_labels({"source": source, "type": event_type})
            EVENTS.labels(*labels, outcome.value).inc(count)
        BATCH_SIZE.observe(len(batch))


@app.page("/metrics")
async def metrics(web: Any, request: Any) -> Any:
    return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])
