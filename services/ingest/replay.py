"""Replaying dead letters after a fix: read the dead-letter topic once, post what can be retried to ingest.

Only touchpoints posted to ``/v1/events`` (source ``api``) can be replayed: a provider's webhook cannot be
re-signed, and a truncated payload is incomplete. Ingest validates each again; what still fails is
dead-lettered again with its (maybe new) reason, so a replay never loses anything.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.kafka import client_options
from services.common.settings import CommonSettings
from services.domain.erasure import ErasureRegistry

log = logging.getLogger(__name__)
BATCH = 500


def replayable(
    letters: Iterable[dict[str, Any]], reason_code: str | None, erasures: ErasureRegistry | None = None
) -> tuple[list[Any], Counter[str]]:
    """The payloads worth posting again, and why the others were skipped; never an erased person's
    refused before their erasure (``erasures``). Pure."""
    chosen, skipped = [], Counter[str]()
    erasures = erasures or ErasureRegistry()
    for letter in letters:
        if reason_code is not None and letter.get("reason_code") != reason_code:
            skipped["other reason"] += 1
        elif letter.get("source") != "api" or letter.get("service") != "ingest":
            skipped[f"from {letter.get('source')} (cannot be re-signed or re-read)"] += 1
        elif letter.get("truncated"):
            skipped["truncated"] += 1
        else:
            try:
                payload = orjson.loads(letter["payload"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                skipped["not JSON"] += 1
                continue
            if _erased(payload, letter, erasures):
                skipped["erased on request"] += 1
            else:
                chosen.append(payload)
    return chosen, skipped


def _erased(payload: Any, letter: dict[str, Any], erasures: ErasureRegistry) -> bool:
    if not erasures.erased_at:
        return False
    events = payload if isinstance(payload, list) else [payload]
    try:
        refused_at = datetime.fromisoformat(letter["received_at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        refused_at = float("-inf")  # when is unknown: if they were erased at all, it counts as before
    return any(
        isinstance(event, dict) and erasures.written_before(str(event.get("constituent_id")), refused_at)
        for event in events
    )


async def read_dead_letters(settings: CommonSettings) -> list[dict[str, Any]]:
    """Every dead letter on the topic now (one pass to the current end)."""
    return await read_topic(settings, settings.topic_dead_letters)


async def read_erasures(settings: CommonSettings) -> ErasureRegistry:
    registry = ErasureRegistry()
    for erasure in await read_topic(settings, settings.topic_erasures):
        registry.apply(erasure)
    return registry


async def read_topic(settings: CommonSettings, topic: str) -> list[dict[str, Any]]:
    """Every record's JSON value on ``topic`` now (one pass to the current end)."""
    consumer = AIOKafkaConsumer(
        topic,
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
    chosen, outcome = replayable(letters, reason_code, await read_erasures(settings))
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
