"""The scorer's Prometheus metrics (docs/metrics.md), and how a processed batch is counted in them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from services.common.follower import CONSUMER_LAG
from services.common.histograms import observe_all
from services.domain.alerts.model import Alert
from services.domain.events import metric_labels
from services.scorer.processing import BatchResult

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
CORE = Gauge(
    "mp_scorer_core",
    "Which implementation of the scoring core this worker runs: 1 for it (rust, mypyc, or python)",
    ["core"],
)
TABLE_KEYS = Gauge("mp_scorer_table_keys", "Constituents held in this worker's state table.")
HEAP_TRIM_SECONDS = Counter(
    "mp_scorer_heap_trim_seconds",
    "Time spent handing freed memory back to the system (malloc_trim, MP_HEAP_TRIM_INTERVAL_S).",
)
INGEST_TO_SCORE = Histogram(
    "mp_scorer_ingest_to_score_seconds",
    "From the record's Kafka timestamp (written by ingest) to its score being published.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


STATES_TRIMMED = Counter(
    "mp_scorer_state_trimmed_total",
    "What trimming states over MP_SCORER_MAX_STATE_BYTES removed, by kind (docs/privacy.md).",
    ["kind"],
)
RECORDS_REFUSED = Counter(
    "mp_scorer_records_too_large_total",
    "Records over the broker's size limit, dead-lettered instead of sent.",
)
RECOVERY_CASES = Counter(
    "mp_scorer_recovery_cases_total",
    "Recurring-gift recovery cases opened, recovered and lost (services/domain/alerts/recovery.py).",
    ["outcome"],
)
RECOVERY_AMOUNT = Counter(
    "mp_scorer_recovery_amount_total",
    "Amounts of recurring gifts recovered and lost (any currency, as events give them).",
    ["outcome"],
)
TIME_TO_RECOVER = Histogram(
    "mp_scorer_recovery_seconds",
    "Event time from a recurring gift's first failed instalment to the payment that recovered it.",
    buckets=(3600, 6 * 3600, 86400, 2 * 86400, 4 * 86400, 7 * 86400, 14 * 86400, 21 * 86400, 42 * 86400),
)
OFFSET_GAPS = Counter(
    "mp_scorer_offset_gaps_total",
    "Jumps in the offsets a worker processed of a partition with a record at every offset: records that "
    "never reached the agent (its commit holds there until a restart reads them; scorer/watchdog.py).",
    ["topic"],
)
OFFSETS_SKIPPED = Counter(
    "mp_scorer_offsets_skipped_total",
    "Records jumped over in those gaps (mp_scorer_offset_gaps_total).",
    ["topic"],
)
OFFSETS_REPEATED = Counter(
    "mp_scorer_offsets_repeated_total",
    "Records that reached the agent a second time within one consumer generation (dropped as repeats by "
    "their event ids; a sign of a consumer fault).",
    ["topic"],
)
STALLED = Gauge(
    "mp_scorer_stalled",
    "1 while records wait on the broker and the worker consumes nothing (it restarts itself after "
    "MP_SCORER_STALL_AFTER_S).",
)


def count_bounds(trimmed: dict[str, int], refused: int) -> None:
    for kind, count in trimmed.items():
        STATES_TRIMMED.labels(kind).inc(count)
    RECORDS_REFUSED.inc(refused)


def count_alert(alert: Alert, fact_time: float) -> None:
    """An alert update published, ``fact_time`` being when what caused it happened."""
    ALERTS.labels(alert["kind"], alert["severity"], alert["status"]).inc()
    ALERT_DELAY.labels(alert["kind"]).observe(max(0.0, time.time() - fact_time))


def count_batch(result: BatchResult, records: int, now: float) -> None:
    """A batch of ``records`` (touchpoints and ticks) processed at ``now`` and published."""
    for alert, fact_time in result.alerts:
        count_alert(alert, fact_time)
    for dead in result.dead_letters:
        DEAD_LETTERS.labels(dead.code).inc()
    ALERTS_SUPPRESSED.inc(result.suppressed_alerts)
    observe_all(EVENT_TIME_LAG, [max(0.0, now - event_time) for event_time in result.event_times])
    for (source, event_type, outcome), count in result.outcomes.items():
        labels = metric_labels({"source": source, "type": event_type})
        EVENTS.labels(*labels, outcome.value).inc(count)
    BATCH_SIZE.observe(records)
    RECOVERY_CASES.labels("opened").inc(result.recoveries_opened)
    for closed in result.recoveries_closed:
        RECOVERY_CASES.labels(closed.outcome).inc()
        RECOVERY_AMOUNT.labels(closed.outcome).inc(closed.amount)
        if closed.outcome == "recovered":
            TIME_TO_RECOVER.observe(closed.seconds)


def observe_published(
    batch: list[Any], touchpoints_topic: str, highwater: Callable[[Any], int | None]
) -> None:
    """Once a batch of Faust messages is published: each touchpoint record's time from ingest's write
    (its Kafka timestamp) to its score, and the lag each partition is left with."""
    published = time.time()
    newest: dict[Any, int] = {}
    waited = []
    for message in batch:
        newest[message.tp] = max(newest.get(message.tp, -1), message.offset)
        if message.topic == touchpoints_topic and message.timestamp:
            waited.append(max(0.0, published - message.timestamp))
    observe_all(INGEST_TO_SCORE, waited)
    for tp, offset in newest.items():
        end = highwater(tp)
        if end is not None:
            CONSUMER_LAG.labels("scorer", tp.topic, str(tp.partition)).set(max(0, end - offset - 1))
