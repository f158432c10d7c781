"""The Faust wiring around services.scorer.processing: batches in, table writes and topics out.

Run with ``mission-pulse scorer`` (which is ``faust -A services.scorer.app worker``). Three streams:
``score`` folds touchpoints (and hand-off deadline ticks) into constituent state; ``detect_spikes`` folds
per-batch failure counts, keyed by source, into systemic spike alerts; two timers nudge both when their
streams go quiet, so deadlines fire and spikes clear without new events.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import Counter as Tally
from typing import Any

import faust
import orjson
from faust.streams import _current_event
from faust.types import TP
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from services.common.config_files import load_alert_rules, load_scoring_model
from services.common.follower import CONSUMER_LAG
from services.common.gc_tuning import tune_garbage_collection
from services.common.kafka import KafkaUnavailable, Record, ReliableProducer
from services.common.logs import json_logging_config
from services.common.reachability import KafkaReachability
from services.domain.dead_letters import dead_letter
from services.domain.events import metric_labels
from services.domain.handoffs import next_deadline
from services.domain.scoring import ConstituentState, score_record
from services.domain.spikes import SpikeState
from services.scorer.processing import BatchProcessor, Incoming
from services.scorer.settings import ScorerSettings

log = logging.getLogger(__name__)
settings = ScorerSettings()
model = load_scoring_model(settings.scoring_config)
rules = load_alert_rules(settings.alerts_config).with_deadlines_scaled(settings.scorer_deadline_scale)
processor = BatchProcessor(model, rules)

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
ALERTS = Counter(
    "mp_scorer_alerts_published_total",
    "Alert updates published, by kind, severity and status (open, resolved).",
    ["kind", "severity", "status"],
)
ALERT_DELAY = Histogram(
    "mp_scorer_alert_delay_seconds",
    "Wall-clock time from the triggering fact (failure event, passed deadline) to the alert's publication.",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600),
)
ALERTS_SUPPRESSED = Counter(
    "mp_scorer_alerts_suppressed_total", "Per-constituent alerts not opened because a storm used the budget."
)
HANDOFFS_PENDING = Gauge(
    "mp_scorer_handoffs_pending", "Constituents owed a hand-off follow-up on this worker, by rule.", ["rule"]
)
DEAD_LETTERS = Counter(
    "mp_scorer_dead_letters_total",
    "Records the scorer could not score, dead-lettered, by reason.",
    ["reason_code"],
)
BATCH_SIZE = Histogram(
    "mp_scorer_batch_events", "Events per processed batch.", buckets=(1, 10, 50, 100, 250, 500, 1000, 5000)
)
TABLE_KEYS = Gauge("mp_scorer_table_keys", "Constituents held in this worker's state table.")
INGEST_TO_SCORE = Histogram(
    "mp_scorer_ingest_to_score_seconds",
    "From the record's Kafka timestamp (written by ingest) to its score being published.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

app = faust.App(
    settings.scorer_app_id,
    logging_config=json_logging_config("scorer", settings.log_level),
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
# Touchpoints and deadline ticks share one stream (and partitioning), so one agent writes each state.
scorer_inputs = app.topic(settings.topic_touchpoints, settings.ticks_topic, key_type=bytes, value_type=bytes)
ticks_topic = app.topic(settings.ticks_topic, key_type=bytes, value_type=bytes)
spike_counts_topic = app.topic(settings.spike_counts_topic, key_type=bytes, value_type=bytes)
publisher = ReliableProducer(settings, timeout_s=30)
# Keyed by the constituent id's bytes; each key lives in the changelog partition of its source events.
states = app.Table(
    "constituent-state", partitions=settings.topic_partitions, key_type=bytes, value_type=bytes
)
# Constituent → {"deadline", "partition", "rules"} for those owed a hand-off: what the deadline timer reads.
deadlines = app.Table(
    "handoff-deadlines", partitions=settings.topic_partitions, key_type=bytes, value_type=bytes
)
spike_states = app.Table(
    "spike-state", partitions=settings.topic_partitions, key_type=bytes, value_type=bytes
)
TABLE_KEYS.set_function(lambda: len(states))
tables_by_changelog = {table.changelog_topic_name: table for table in (states, deadlines)}
ticks_sent: dict[bytes, float] = {}  # key → when; not sent again until processed or 30 s passed
spike_counts_arrived: dict[bytes, float] = {}


class BatchStores:
    """A batch's reads and writes of the table stores, each in the partition its key lives in.

    Faust's own table write sends each changelog record through its per-message producer path, which
    cost more than the scoring (docs/performance.md), so the scorer writes the store directly and sends
    the changelog record with the batch's other records. Recovery is still Faust's: it rebuilds the store
    from the same changelog topic. Stores pick a key's partition (its RocksDB database) from the stream's
    "current event", which take_events() does not set (without it a read looks in every partition's
    database), so each read and write sets it to an event of the key's partition.
    """

    def __init__(self, batch: list[Any]) -> None:
        self._event_of = {event.message.partition: weakref.ref(event) for event in batch}

    def read(self, table: Any, key: bytes, partition: int) -> bytes | None:
        token = _current_event.set(self._event_of[partition])
        try:
            return table.data.get(key)  # type: ignore[no-any-return]
        finally:
            _current_event.reset(token)

    def write(self, table: Any, key: bytes, value: bytes | None, partition: int) -> Record:
        """Write (or delete, for None) a key in its store; the changelog record, for ``_publish``."""
        token = _current_event.set(self._event_of[partition])
        try:
            if value is None:
                table.data.pop(key, None)
            else:
                table.data[key] = value
        finally:
            _current_event.reset(token)
        return Record(table.changelog_topic_name, key, value, partition)

    def load_state(self, constituent_id: str, partition: int) -> ConstituentState | None:
        stored = self.read(states, constituent_id.encode(), partition)
        return None if stored is None else ConstituentState.from_dict(orjson.loads(stored))


async def _publish(records: list[Record]) -> None:
    """Send and wait until Kafka has every record (retrying while it is away), before the batch that
    produced them is acknowledged. One plain producer for all of them: Faust's per-message send path cost
    more than the scoring itself (docs/performance.md)."""
    if not records:
        return
    while True:
        try:
            written = await publisher.send_all(records)
            break
        except KafkaUnavailable as error:
            log.warning("could not publish; retrying", extra={"error": str(error), "records": len(records)})
            await asyncio.sleep(1)
    # what Faust's own changelog callback does: a RocksDB store remembers how far its changelog is
    # already applied, so that a restart replays only what came after
    newest: dict[tuple[str, int], int] = {}
    for where in written:
        key = (where.topic, where.partition)
        newest[key] = max(newest.get(key, -1), where.offset)
    for (topic, partition), offset in newest.items():
        table = tables_by_changelog.get(topic)
        if table is not None:
            table.data.set_persisted_offset(TP(topic, partition), offset)


def _alert_record(alert: dict[str, Any]) -> Record:
    return Record(settings.topic_alerts, alert["alert_id"].encode(), orjson.dumps(alert))


def _count_alert(alert: dict[str, Any], fact_time: float) -> None:
    ALERTS.labels(alert["kind"], alert["severity"], alert["status"]).inc()
    ALERT_DELAY.labels(alert["kind"]).observe(max(0.0, time.time() - fact_time))


@app.agent(scorer_inputs)
async def score(stream: Any) -> None:
    """Fold each batch into the table once per constituent; publish scores, alerts, counts, dead letters."""
    async for batch in stream.take_events(settings.scorer_batch_size, within=settings.scorer_batch_within_s):
        now = time.time()
        records, due = [], []
        for event in batch:
            if event.message.topic == settings.ticks_topic:
                due.append((event.message.partition, event.key.decode()))
                ticks_sent.pop(event.key, None)
            else:
                records.append(Incoming(event.message.partition, event.key, event.value))
        stores = BatchStores(batch)
        partitions = app.consumer.topic_partitions(settings.topic_touchpoints)
        result = processor.process(records, stores.load_state, now, due, partitions)
        outgoing: list[Record] = []
        for constituent_id, state in result.changed.items():
            key = constituent_id.encode()
            partition = result.partitions[constituent_id]
            outgoing.append(stores.write(states, key, orjson.dumps(state.to_dict()), partition))
            outgoing.append(Record(settings.topic_scores, key, orjson.dumps(score_record(state, model, now))))
            deadline = next_deadline(state.handoffs)
            wanted = None
            if deadline is not None:
                owed = Tally(h["rule"] for h in state.handoffs if h["status"] == "pending")
                entry = {"deadline": deadline, "partition": partition, "rules": owed}
                wanted = orjson.dumps(entry)
            if stores.read(deadlines, key, partition) != wanted:
                outgoing.append(stores.write(deadlines, key, wanted, partition))
        outgoing += [_alert_record(alert) for alert, _ in result.alerts]
        for (rule_index, spike_key, bucket), counted in result.spike_counts.items():
            counts = {
                "rule": rule_index,
                "bucket": bucket,
                "attempts": counted.attempts,
                "failures": counted.failures,
                "evidence": counted.evidence,
            }
            outgoing.append(Record(settings.spike_counts_topic, spike_key.encode(), orjson.dumps(counts)))
        for dead in result.dead_letters:
            letter = dead_letter(
                source="touchpoints",
                reason_code=dead.code,
                reason=dead.reason,
                raw=dead.raw,
                service="scorer",
                at=now,
            )
            outgoing.append(Record(settings.topic_dead_letters, None, orjson.dumps(letter)))
            DEAD_LETTERS.labels(dead.code).inc()
        await _publish(outgoing)
        for alert, fact_time in result.alerts:
            _count_alert(alert, fact_time)
        ALERTS_SUPPRESSED.inc(result.suppressed_alerts)
        for event_time in result.event_times:
            EVENT_TIME_LAG.observe(max(0.0, now - event_time))
        for (source, event_type, outcome), count in result.outcomes.items():
            labels = metric_labels({"source": source, "type": event_type})
            EVENTS.labels(*labels, outcome.value).inc(count)
        BATCH_SIZE.observe(len(batch))
        published = time.time()
        newest: dict[Any, int] = {}
        for event in batch:
            message = event.message
            newest[message.tp] = max(newest.get(message.tp, -1), message.offset)
            if message.topic == settings.topic_touchpoints and message.timestamp:
                INGEST_TO_SCORE.observe(max(0.0, published - message.timestamp))
        for tp, offset in newest.items():
            highwater = app.consumer.highwater(tp)
            if highwater is not None:
                CONSUMER_LAG.labels("scorer", tp.topic, str(tp.partition)).set(max(0, highwater - offset - 1))


@app.timer(interval=rules.time.timer_interval_seconds)
async def tick_due_handoffs() -> None:
    """Send a tick for every constituent whose earliest deadline its partition's watermark passed."""
    now = time.time()
    pending: Tally[str] = Tally()
    for key, raw in list(deadlines.items()):
        entry = orjson.loads(raw)
        pending.update(entry["rules"])
        if now - ticks_sent.get(key, float("-inf")) < 30:
            continue
        if entry["deadline"] <= processor.watermarks.watermark(entry["partition"], now):
            ticks_sent[key] = now
            await ticks_topic.send(key=key, value=b"{}", partition=entry["partition"])
    for rule in rules.handoffs:
        HANDOFFS_PENDING.labels(rule.name).set(pending[rule.name])


@app.agent(spike_counts_topic)
async def detect_spikes(stream: Any) -> None:
    """Fold partial counts per spike key into a sliding window; open/resolve one alert per crossing."""
    async for event in stream.events():
        message = orjson.loads(event.value)
        stored = spike_states.get(event.key)
        if stored is not None:
            state = SpikeState.from_dict(orjson.loads(stored))
        else:
            state = SpikeState(key=event.key.decode(), rule_index=message.get("rule", 0))
        if state.rule_index >= len(rules.spikes):  # the rule was removed from the configuration
            spike_states.pop(event.key, None)
            continue
        if "advance_to" in message:
            state.advance(message["advance_to"])
        else:
            state.add(message["bucket"], message["attempts"], message["failures"], message["evidence"])
            spike_counts_arrived[event.key] = time.time()
        alert = state.evaluate(rules.spikes[state.rule_index])
        spike_states[event.key] = orjson.dumps(state.to_dict())
        if alert is not None:
            await _publish([_alert_record(alert)])
            _count_alert(alert, state.window_end)


@app.timer(interval=rules.time.timer_interval_seconds * 5)
async def advance_quiet_spikes() -> None:
    """An open spike on a source that went quiet still clears: move its window on by the wall clock."""
    now = time.time()
    for key, raw in list(spike_states.items()):
        if orjson.loads(raw)["open_alert"] is None:
            continue
        if now - spike_counts_arrived.get(key, float("-inf")) >= rules.time.idle_seconds:
            advance_to = now - rules.time.allowed_lateness_seconds
            await spike_counts_topic.send(key=key, value=orjson.dumps({"advance_to": advance_to}))


@app.page("/healthz")
async def healthz(web: Any, request: Any) -> Any:
    return web.json({"status": "ok", "service": "scorer"})


kafka = KafkaReachability(settings)


@app.task
async def collect_garbage_less_often() -> None:
    """Once the worker has started (so that what start-up allocated is frozen out of collections)."""
    tune_garbage_collection(settings.gc_young_threshold)


@app.task
async def watch_kafka() -> None:
    await kafka.run()


@app.page("/readyz")
async def readyz(web: Any, request: Any) -> Any:
    """Ready once partitions are assigned and tables recovered from their changelogs, while Kafka answers."""
    if app.rebalancing or app.in_recovery or not app.consumer.assignment():
        return web.json({"status": "rebalancing or recovering state"}, status=503)
    if not kafka.reachable:
        return web.json({"status": "Kafka unreachable: scoring is paused"}, status=503)
    return web.json({"status": "ready"})


@app.page("/metrics")
async def metrics(web: Any, request: Any) -> Any:
    return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])
