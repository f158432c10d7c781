"""Replaying dead letters after a fix: read the dead-letter topic once, post what can be retried to ingest.

Only touchpoints posted to ``/v1/events`` (source ``api``) can be replayed: a provider's webhook cannot be
re-signed, and a truncated payload is incomplete. Ingest validates each again; what still fails is
dead-lettered again with its (maybe new) reason, so a replay never loses anything.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.kafka import client_options
from services.common.settings import CommonSettings

log = logging.getLogger(__name__)
BATCH = 500


def replayable(letters: Iterable[dict[str, Any]], reason_code: str | None) -> tuple[list[Any], Counter[str]]:
    """The payloads worth posting again, and why the others were skipped. Pure."""
    chosen, skipped = [], Counter[str]()
    for letter in letters:
        if reason_code is not None and letter.get("reason_code") != reason_code:
            skipped["other reason"] += 1
        elif letter.get("source") != "api" or letter.get("service") != "ingest":
            skipped[f"from {letter.get('source')} (cannot be re-signed or re-read)"] += 1
        elif letter.get("truncated"):
            skipped["truncated"] += 1
        else:
            try:
                chosen.append(orjson.loads(letter["payload"]))
            except (orjson.JSONDecodeError, KeyError, TypeError):
                skipped["not JSON"] += 1
    return chosen, skipped


async def read_dead_letters(settings: CommonSettings) -> list[dict[str, Any]]:
    """Every dead letter on the topic now (one pass to the current end)."""
    consumer = AIOKafkaConsumer(
        settings.topic_dead_letters,
        **client_options(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        partitions: set[TopicPartition] = set()
        while not partitions:  # without a group id, aiokafka assigns every partition once it has metadata
            await consumer.getmany(timeout_ms=200)
            partitions = consumer.assignment()
        await consumer.seek_to_beginning(*partitions)  # whatever that first fetch read is read again
        ends = await consumer.end_offsets(list(partitions))
        letters: list[dict[str, Any]] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for tp, records in (await consumer.getmany(timeout_ms=1000, max_records=5000)).items():
                letters += [orjson.loads(record.value) for record in records if record.offset < ends[tp]]
        return letters
    finally:
        await consumer.stop()


class ReplayRefused(RuntimeError):
    """Ingest refused the replay as a whole (a wrong key, a service error); the message says how."""


async def replay(
    settings: CommonSettings, ingest_url: str, reason_code: str | None, dry_run: bool, key: str | None = None
) -> Counter[str]:
    """Post what can be replayed to ingest (with ``key``, an ingest key for source ``api``'s events)."""
    letters = await read_dead_letters(settings)
    chosen, outcome = replayable(letters, reason_code)
    print(f"read {len(letters)} dead letters; {len(chosen)} can be replayed", flush=True)
    if dry_run:
        return outcome
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(base_url=ingest_url, timeout=30, headers=headers) as client:
        for start in range(0, len(chosen), BATCH):
            batch = chosen[start : start + BATCH]
            response = await client.post("/v1/events", json=batch)
            if response.status_code in (202, 422):
                body = response.json()
                outcome["accepted"] += body.get("accepted", 0)
                outcome["rejected again"] += len(body.get("rejected") or [])
            else:
                raise ReplayRefused(f"ingest answered {response.status_code}: {response.text[:300]}")
            print(f"  replayed {min(start + BATCH, len(chosen))}/{len(chosen)}", flush=True)
    return outcome
