"""The Mission Experience aggregator: each batch's counter increments, keyed by window, folded into the
``report-windows`` table and each changed window published whole to the compacted report topic, which
the API serves (docs/reports.md). Registered on the app by services/scorer/app.py.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import orjson

from services.common.kafka import Record
from services.domain.report.counters import KEPT_DAYS, fold, window_bounds
from services.scorer.app import _publish, app, report_deltas_topic, report_windows, settings
from services.scorer.stores import BatchStores

EXPIRY_CHECK_S = 3600.0
EXPIRE = b"expire"  # on the deltas topic instead of increments: the window is over KEPT_DAYS old


@app.agent(report_deltas_topic)
async def aggregate_report(stream: Any) -> None:
    """Fold increments per window; publish each window that changed once per batch, with its changelog
    record (written like the scoring agent's: one producer, the batch acknowledged once Kafka has both)."""
    async for batch in stream.take_events(1000, within=1.0):
        stores = BatchStores(event.message for event in batch)
        changed: dict[bytes, tuple[int, Counter[str]]] = {}  # window key → (partition, its counters)
        expired: dict[bytes, int] = {}
        for event in batch:
            key, partition = event.key, event.message.partition
            if event.value == EXPIRE:
                expired[key] = partition
                changed.pop(key, None)
                continue
            if key not in changed:
                stored = stores.read(report_windows, key, partition)
                changed[key] = (partition, Counter(orjson.loads(stored) if stored else {}))
            fold(changed[key][1], orjson.loads(event.value))
        records = []
        for key, (partition, counted) in changed.items():
            value = orjson.dumps(dict(counted))
            records.append(stores.write(report_windows, key, value, partition))
            records.append(Record(settings.topic_reports, key, value))
        for key, partition in expired.items():
            records.append(stores.write(report_windows, key, None, partition))
            records.append(Record(settings.topic_reports, key, None))  # a tombstone: compaction drops it
        await _publish(records)


@app.timer(interval=EXPIRY_CHECK_S)
async def forget_old_windows() -> None:
    """Windows older than KEPT_DAYS go: the worker holding one deletes it from the table and tombstones
    it on the report topic (through the stream, so that the table keeps one writer)."""
    oldest = time.time() - KEPT_DAYS * 86400
    old = [key for key in list(report_windows.data.keys()) if window_bounds(key.decode())[1] < oldest]
    await _publish([Record(settings.report_deltas_topic, key, EXPIRE) for key in old])
