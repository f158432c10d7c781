"""The Faust wiring around services.scorer.processing: batches in, table writes and topics out.

Run with ``mission-pulse scorer`` (which is ``faust -A services.scorer.app worker``). Three streams:
``score`` folds touchpoints (and hand-off deadline ticks) into constituent state; ``detect_spikes`` folds
per-batch failure counts, keyed by source, into systemic spike alerts; two timers nudge both when their
streams go quiet, so deadlines fire and spikes clear without new events.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from functools import partial
from typing import Any

import faust
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services import faust_fixes, native
from services.common.config_files import load_alert_rules, load_scoring_model
from services.common.follower import TopicFollower
from services.common.gc_tuning import tune_garbage_collection
from services.common.heap_trim import HeapTrim, malloc_trim
from services.common.kafka import KafkaUnavailable, Record, ReliableProducer
from services.common.logs import json_logging_config
from services.common.memory_watch import watch_memory
from services.common.reachability import KafkaReachability
from services.faust_fixes.inbox import Inbox
from services.scorer import metrics
from services.scorer.compiled import CompiledProcessor, choose
from services.scorer.deadlines import DeadlineIndex
from services.scorer.outgoing import Publishing, Topics, outgoing
from services.scorer.processing import BatchProcessor
from services.scorer.records import Incoming, parts_of
from services.scorer.settings import TABLES, ScorerSettings
from services.scorer.stores import (
    BatchStores,
    check_faust_internals,
    faust_credentials,
    note_persisted_offsets,
)
from services.scorer.watchdog import Activity, OffsetCheck

log = logging.getLogger(__name__)
settings = ScorerSettings()
# faust-streaming's defects fixed where they are, before the worker starts (services/faust_fixes)
faust_fixes.install(
    faust_fixes.FIXES + ((faust_fixes.FAST_PATHS,) if settings.scorer_faust_fast_paths else ())
)
check_faust_internals()
model = load_scoring_model(settings.scoring_config)
rules = load_alert_rules(settings.alerts_config).with_deadlines_scaled(settings.scorer_deadline_scale)
# the compiled core where it is installed (services/scorer/compiled.py), else the Python model
compiled_core = choose(settings.scorer_core)
processor: BatchProcessor | CompiledProcessor = (
    BatchProcessor(model, rules)
    if compiled_core is None
    else CompiledProcessor(compiled_core, model, rules, settings.scorer_max_state_bytes)
)
shared_topics = Topics(
    scores=settings.topic_scores,
    alerts=settings.topic_alerts,
    spike_counts=settings.spike_counts_topic,
    dead_letters=settings.topic_dead_letters,
    report_deltas=settings.report_deltas_topic,
)
# A candidate (rescore --apply) publishes alerts and dead letters to its own topics until it is the live
# version; a superseded worker does so again (services/scorer/version_agents.py follows the versions topic).
publishing = Publishing(
    shared_topics,
    replace(
        shared_topics,
        alerts=settings.shadow_alerts_topic,
        dead_letters=settings.shadow_dead_letters_topic,
    ),
    live=not settings.scorer_candidate,
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
    # only /healthz, /readyz and /metrics: Faust's own pages would serve every table's data unauthenticated
    web_tables_enabled=False,
    web_router_enabled=False,
    web_stats_enabled=False,
    web_graph_enabled=False,
    web_metrics_enabled=False,
    broker_credentials=faust_credentials(settings),
    producer_acks=-1,
    producer_linger_ms=5,
    key_serializer="raw",
    value_serializer="raw",
    consumer_auto_offset_reset="earliest",
    broker_session_timeout=settings.scorer_session_timeout_s,
    broker_heartbeat_interval=settings.scorer_session_timeout_s / 5,
    broker_commit_interval=settings.scorer_commit_interval_s,
    stream_buffer_maxsize=settings.scorer_buffer_records,
    # Faust's leader-election topic is created by the worker as it starts, like the changelogs once were: a
    # subscribed topic missing from the group's first metadata makes aiokafka rejoin the group at the next
    # metadata refresh (300 s) — a rebalance with state recovery (docs/reliability.md, "Soak"). Nothing here
    # runs on the leader only, so there is no such topic; every other one is created before the worker.
    topic_disable_leader=True,
)
# Touchpoints, deadline ticks and erasures share one stream (and partitioning): one agent writes each state.
scorer_inputs = app.topic(
    settings.topic_touchpoints,
    settings.ticks_topic,
    settings.topic_erasures,
    key_type=bytes,
    value_type=bytes,
)
spike_counts_topic = app.topic(settings.spike_counts_topic, key_type=bytes, value_type=bytes)
dead_letters_topic = app.topic(settings.topic_dead_letters, key_type=bytes, value_type=bytes)
report_deltas_topic = app.topic(settings.report_deltas_topic, key_type=bytes, value_type=bytes)
# The only writer of what it publishes, awaiting each batch's records before the next: a partition's records
# go as whole batches from two on (services/common/batched_send.py).
publisher = ReliableProducer(settings, timeout_s=30, few=2)
# Keyed by the constituent id's bytes; each key lives in the changelog partition of its source events.
STATE, DEADLINES, SPIKES, REPORTS = TABLES  # names whose changelogs the CLI creates before the worker starts
states = app.Table(STATE, partitions=settings.topic_partitions, key_type=bytes, value_type=bytes)
# Constituent → {"deadline", "partition", "rules"} for those owed a hand-off: what the deadline timer reads.
deadlines = app.Table(DEADLINES, partitions=settings.topic_partitions, key_type=bytes, value_type=bytes)
spike_states = app.Table(SPIKES, partitions=settings.topic_partitions, key_type=bytes, value_type=bytes)
# Window key → its Mission Experience counters (services/scorer/report_agent.py)
report_windows = app.Table(REPORTS, partitions=settings.topic_partitions, key_type=bytes, value_type=bytes)
metrics.TABLE_KEYS.set_function(lambda: len(states))
tables_by_changelog = {table.changelog_topic_name: table for table in (states, deadlines, report_windows)}
deadline_index = DeadlineIndex()  # the deadlines table in memory, earliest first (deadlines.py)


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
    note_persisted_offsets(tables_by_changelog, written)


# The inputs' records go from the fetch loop to the agent in whole batches, past Faust's per-record stream
# path (services/faust_fixes/inbox.py); MP_SCORER_INBOX=false takes them through Faust's stream instead.
inbox = Inbox(app, scorer_inputs.topics, settings.scorer_buffer_records) if settings.scorer_inbox else None
if inbox is not None:
    faust_fixes.attach_inbox(app.consumer, inbox)


def input_batches(stream: Any) -> AsyncIterator[list[Any]]:
    """The agent's batches of Faust messages: from the inbox, or from Faust's stream."""
    size, within = settings.scorer_batch_size, settings.scorer_batch_within_s
    if inbox is None:
        return ([event.message for event in events] async for events in stream.take_events(size, within))
    aiter(stream.channel)  # subscribes the topics, as iterating the stream would (nothing comes through it)
    return inbox.batches(size, within)


@app.agent(scorer_inputs)
async def score(stream: Any) -> None:
    """Fold each batch into the table once per constituent; publish scores, alerts, counts, dead letters.
    A batch is acknowledged when the agent asks for the next one, never if it stops midway (defect D)."""
    async for batch in input_batches(stream):
        activity.started()
        await erasures.ready.wait()  # a replay must know every erasure before it scores anything
        now = time.time()
        records, due, erase = [], [], []
        offsets_seen: dict[str, int] = {}
        for message in batch:
            key = f"{message.topic}:{message.partition}"
            offsets_seen[key] = message.offset
            # erasures are compacted: their offsets may have gaps; the offset due needs no more checking
            if message.topic in gapless and not offsets.in_step(message.generation_id, key, message.offset):
                check_offset(message)
            if message.topic == settings.ticks_topic:
                due.append((message.partition, message.key.decode()))
                deadline_index.processed(message.key)
            elif message.topic == settings.topic_erasures:
                if erasure_of(message.value) is not None:
                    erase.append((message.partition, message.key.decode()))
            else:
                records.append(
                    Incoming(message.partition, message.key, message.value, message.timestamp or 0.0)
                )
        stores = BatchStores(batch)
        partitions = app.consumer.topic_partitions(settings.topic_touchpoints)
        load_state: Any = (
            stores.state_loader(states)
            if isinstance(processor, BatchProcessor)
            else stores.stored_loader(states)
        )
        # In parts, each published before the next is folded (less held at once; docs/performance.md,
        # "Folding a batch in parts"). The batch is acknowledged once every part is, as a whole batch was.
        for number, part in enumerate(parts_of(records, settings.scorer_part_bytes)):
            first = number == 0
            result = processor.process(
                part, load_state, now, due if first else (), partitions, erase if first else ()
            )
            out = outgoing(
                result,
                publishing.topics,
                model,
                now,
                partial(stores.read, deadlines),
                settings.scorer_max_state_bytes,
            )
            changelog = [stores.write(states, w.key, w.value, w.partition) for w in out.states]
            for w in out.deadlines:
                changelog.append(stores.write(deadlines, w.key, w.value, w.partition))
                deadline_index.put(w.key, w.value)
            await _publish(changelog + out.records)
            metrics.count_batch(result, len(part) + (len(due) if first else 0), now)
            metrics.count_bounds(out.trimmed, out.refused)
        metrics.observe_published(batch, settings.topic_touchpoints, app.consumer.highwater)
        activity.finished(offsets_seen)


def check_offset(message: Any) -> None:
    """Count (and log) a record of a gapless topic that came after a jump or a second time (watchdog.py)."""
    start = faust_fixes.reading_start(app.consumer, message.topic, message.partition)
    jump = offsets.observe(
        message.generation_id, f"{message.topic}:{message.partition}", message.offset, start
    )
    if jump:
        where = {"topic": message.topic, "partition": message.partition, "offset": message.offset}
        if jump > 0:
            log.error("records skipped between fetch and agent", extra={**where, "skipped": jump})
            metrics.OFFSET_GAPS.labels(message.topic).inc()
            metrics.OFFSETS_SKIPPED.labels(message.topic).inc(jump)
        else:
            log.warning("a record reached the agent a second time", extra=where)
            metrics.OFFSETS_REPEATED.labels(message.topic).inc()


def erasure_of(value: bytes | None) -> dict[str, Any] | None:
    """An erasure record folded into the processor's registry; None (and a warning) for anything else."""
    try:
        return processor.erasures.apply(orjson.loads(value or b""))  # type: ignore[return-value]
    except (ValueError, KeyError, TypeError) as error:
        log.warning("not an erasure record; ignored", extra={"error": str(error)})
        return None


def fold_erasure(record: Any) -> None:  # an unreadable record raises: the follower counts and skips it
    processor.erasures.apply(orjson.loads(record.value))


# Every erasure so far, before the first batch: a rebuilt scorer or a new group drops the erased.
erasures = TopicFollower(settings, "scorer", {settings.topic_erasures: fold_erasure})


@app.task
async def follow_erasures() -> None:
    await erasures.run()


@app.timer(interval=rules.time.timer_interval_seconds)
async def tick_due_handoffs() -> None:
    """Send a tick for every constituent whose earliest deadline its partition's watermark passed."""
    if app.rebalancing or app.in_recovery:
        return  # the table is being recovered: the index is rebuilt from it once that is done
    assigned = app.consumer.assignment()
    active = frozenset(tp.partition for tp in assigned if tp.topic == settings.topic_touchpoints)
    deadline_index.follow(app.consumer_generation_id, active, lambda: list(deadlines.items()))
    due = deadline_index.due(time.time(), processor.watermarks.watermark)
    # through the scorer's own idempotent acks=all producer, as everything it writes (not Faust's)
    await _publish([Record(settings.ticks_topic, key, b"{}", partition) for key, partition in due])
    for rule in rules.handoffs:
        metrics.HANDOFFS_PENDING.labels(rule.name).set(deadline_index.pending[rule.name])


@app.on_before_shutdown.connect
async def stop_publisher(sender: Any, **_: Any) -> None:
    """Close the scorer's own producer as the worker stops (its last records are already acknowledged)."""
    await publisher.stop()


@app.page("/healthz")
async def healthz(web: Any, request: Any) -> Any:
    return web.json({"status": "ok", "service": "scorer"})


kafka = KafkaReachability(settings)


core = "rust" if compiled_core is not None else native.running_core()
metrics.CORE.labels(core).set(1)


@app.task
async def say_which_core() -> None:
    """Once logging is set up: which scoring core runs (a log line, beside the mp_scorer_core metric)."""
    if compiled_core is not None:
        log.info(
            "scoring core: compiled (Rust, mission_pulse_core %s)",
            compiled_core.version(),
            extra={"core": core},
        )
    elif core == "python":
        log.warning(
            "scoring core: the Python model, interpreted (make setup compiles the Rust core and mypyc; "
            "see docs/compiled-core.md for how much slower this is)",
            extra={"core": core},
        )
    else:
        log.info(
            "scoring core: the Python model compiled with mypyc (no Rust core: %s)",
            "MP_SCORER_CORE=python" if settings.scorer_core == "python" else "not installed",
            extra={"core": core},
        )


@app.task
async def collect_garbage_less_often() -> None:
    """Once the worker has started (so that what start-up allocated is frozen out of collections)."""
    tune_garbage_collection(settings.gc_young_threshold)


heap_trim = HeapTrim(malloc_trim())
if settings.heap_trim_interval_s:

    @app.timer(interval=settings.heap_trim_interval_s)
    async def trim_heap() -> None:
        """Hand what the worker freed back to the system (services/common/heap_trim.py)."""
        metrics.HEAP_TRIM_SECONDS.inc(heap_trim())


@app.task
async def watch_memory_if_asked() -> None:
    if settings.tracemalloc_every_s:
        await watch_memory(settings.tracemalloc_every_s, os.getpid())


@app.task
async def watch_kafka() -> None:
    await kafka.run()


activity = Activity()
offsets = OffsetCheck()
gapless = {settings.topic_touchpoints, settings.ticks_topic}  # a record at every offset
faust_fixes.declare_gapless(app.consumer, gapless)  # a jump there holds the commit: never taken for a gap


@app.page("/readyz")
async def readyz(web: Any, request: Any) -> Any:
    """Ready once partitions are assigned and tables recovered from their changelogs, while Kafka answers."""
    if app.rebalancing or app.in_recovery or not app.consumer.assignment():
        return web.json({"status": "rebalancing or recovering state"}, status=503)
    if not kafka.reachable:
        return web.json({"status": "Kafka unreachable: scoring is paused"}, status=503)
    return web.json({"status": "ready"})


@app.page("/metrics")
async def metrics_page(web: Any, request: Any) -> Any:
    return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])


# The other agents and timers, registered on ``app`` by importing their modules (after everything above).
from services.scorer import report_agent, systemic_agents, version_agents, watchdog_agent  # noqa: E402, F401
