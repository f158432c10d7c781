"""``mission-pulse rescore --model candidate.toml``: the retained touchpoints read once through the live and
the candidate scoring model (services/domain/whatif.py); nothing is published. Erased people's events are
left out as the scorer leaves them out."""

from __future__ import annotations

import sys
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from tqdm import tqdm

from services.common.kafka import client_options
from services.common.settings import CommonSettings
from services.domain.whatif import WhatIf
from services.ingest.replay import read_erasures
from services.scorer.records import DeadLetter, Incoming, valid_events


async def replay_touchpoints(
    settings: CommonSettings, whatif: WhatIf, since: float | None, progress: bool = True
) -> int:
    """Fold every touchpoint written since ``since`` (epoch seconds; None: all retained) up to the topic's
    end when the replay started into ``whatif``; how many records were read."""
    erasures = await read_erasures(settings)
    consumer = AIOKafkaConsumer(
        settings.topic_touchpoints, **client_options(settings), enable_auto_commit=False
    )
    await consumer.start()
    try:
        assigned: set[TopicPartition] = set()
        for _ in range(100):  # without a group id, aiokafka assigns every partition once it has metadata
            await consumer.getmany(timeout_ms=200)
            if assigned := consumer.assignment():
                break
        if not assigned:
            raise SystemExit(f"rescore: topic {settings.topic_touchpoints!r} not found")
        partitions = sorted(assigned)
        ends = await consumer.end_offsets(partitions)
        starts = await _starts(consumer, partitions, since)
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        total = sum(max(0, ends[tp] - starts[tp]) for tp in partitions)
        bar = tqdm(total=total, unit="records", disable=not progress, file=sys.stderr, desc="rescoring")
        read, dropped = 0, list[DeadLetter]()
        with bar:
            while await _behind(consumer, partitions, ends):
                for tp, records in (await consumer.getmany(timeout_ms=1000, max_records=5000)).items():
                    for record in records:
                        if record.offset >= ends[tp] or record.value is None:
                            continue
                        incoming = Incoming(tp.partition, record.key, record.value, record.timestamp / 1000)
                        for event, event_time in valid_events(
                            incoming, dropped, float("inf"), None, float("inf")
                        ):
                            if not erasures.written_before(event["constituent_id"], incoming.timestamp):
                                whatif.add(event, event_time)
                        read += 1
                        bar.update()
        return read
    finally:
        await consumer.stop()


async def _behind(consumer: Any, partitions: list[TopicPartition], ends: dict[TopicPartition, int]) -> bool:
    for tp in partitions:
        if await consumer.position(tp) < ends[tp]:
            return True
    return False


async def _starts(
    consumer: Any, partitions: list[TopicPartition], since: float | None
) -> dict[TopicPartition, int]:
    beginnings = await consumer.beginning_offsets(partitions)
    if since is None:
        return dict(beginnings)
    found = await consumer.offsets_for_times({tp: int(since * 1000) for tp in partitions})
    ends = await consumer.end_offsets(partitions)
    return {tp: (found[tp].offset if found.get(tp) is not None else ends[tp]) for tp in partitions}
