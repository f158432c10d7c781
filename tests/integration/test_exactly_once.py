"""Every accepted event counted once into its person's state, however old, through each re-read a real
deployment makes: a worker killed before it committed (restarted: it reads again what it had scored), a
second worker joining and leaving (partitions move, recovery seeks), and a replay of the whole topic from
offset 0 (a group reset). Counted by event id (tests/fixtures/ledger.py), and the scorer's own count of
repeats must be exactly what each re-read brought again."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.processes import free_port
from tests.fixtures.ledger import Ledger, check, touchpoint_records
from tests.fixtures.system import System, isolated_topics, launch, start_service, wait_for
from tests.fixtures.waiting import wait_for_counts
from tests.integration.test_scoring_e2e import duplicates_dropped

pytestmark = [pytest.mark.integration, pytest.mark.faults]
TYPES = ("web.page_view", "email.opened", "donation.succeeded", "event.attended")
SOURCE = {"web": "web", "email": "email", "donation": "donation", "event": "events"}


def history(person: str, events: int, days: int) -> list[dict[str, Any]]:
    """``events`` of one person spread over the last ``days`` days (a CRM import, a backfill)."""
    now = datetime.now(UTC)
    out = []
    for n in range(events):
        event_type = TYPES[n % len(TYPES)]
        out.append(
            {
                "event_id": f"{person}-{n}",
                "source": SOURCE[event_type.split(".")[0]],
                "type": event_type,
                "occurred_at": (now - timedelta(days=days * (events - 1 - n) / (events - 1))).isoformat(),
                "constituent_id": person,
                "attributes": {"amount": 25, "currency": "USD"} if event_type.startswith("donation") else {},
            }
        )
    return out


async def events_not_committed(system: System) -> int:
    """Events in the touchpoints records beyond the scorer group's committed offsets (a record holds one
    event, or a request's events as a JSON array)."""
    topic, group = system.topic("MP_TOPIC_TOUCHPOINTS"), system.env["MP_SCORER_APP_ID"]
    partitions = [TopicPartition(topic, p) for p in range(8)]
    probe = AIOKafkaConsumer(bootstrap_servers=system.bootstrap, group_id=group, enable_auto_commit=False)
    await probe.start()
    try:
        starts = {tp: await probe.committed(tp) or 0 for tp in partitions}
    finally:
        await probe.stop()
    reader = AIOKafkaConsumer(bootstrap_servers=system.bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        reader.assign(partitions)
        ends = await reader.end_offsets(partitions)
        for tp in partitions:
            reader.seek(tp, starts[tp])
        events = 0
        while [tp for tp in partitions if await reader.position(tp) < ends[tp]]:
            for records in (await reader.getmany(timeout_ms=1000)).values():
                for record in records:
                    value = orjson.loads(record.value or b"{}")
                    events += len(value) if isinstance(value, list) else 1
        return events
    finally:
        await reader.stop()


async def replay_from_zero(system: System) -> None:
    """Commit offset 0 for every touchpoints partition in the scorer's group (the worker is stopped)."""
    topic, group = system.topic("MP_TOPIC_TOUCHPOINTS"), system.env["MP_SCORER_APP_ID"]
    consumer = AIOKafkaConsumer(bootstrap_servers=system.bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(8)]
        consumer.assign(partitions)
        await consumer.commit({tp: 0 for tp in partitions})
    finally:
        await consumer.stop()


def test_histories_of_20_and_400_days_count_once_through_a_restart_a_rebalance_and_a_replay(
    bootstrap: str, tmp_path: Path
) -> None:
    people = {f"x20-{uuid.uuid4().hex[:6]}": (24, 20) for _ in range(6)}
    people |= {f"x400-{uuid.uuid4().hex[:6]}": (60, 400) for _ in range(6)}
    settings = {
        **isolated_topics(),
        "MP_SCORER_SESSION_TIMEOUT_S": "6",
        "MP_SCORER_COMMIT_INTERVAL_S": "60",  # what it scores stays uncommitted: a kill re-reads it
    }
    ledger = Ledger()
    with (
        launch(bootstrap, tmp_path, **settings) as system,
        httpx.Client(base_url=system.ingest_url) as client,
    ):
        for person, (events, days) in people.items():
            whole = history(person, events, days)
            assert ledger.post(client, whole[: events // 2]).status_code == 202  # grouped, as an import
            for event in whole[events // 2 :]:
                assert ledger.post(client, [event]).status_code == 202  # one by one, as a provider

        wait_for_counts(system, ledger.expected_counts())
        assert duplicates_dropped(system) == 0  # nothing reached the scorer twice

        # 1. killed before committing: the restarted worker reads again everything it had scored
        reread = asyncio.run(events_not_committed(system))
        assert reread > 0, "everything was committed already: the kill would re-read nothing"
        system.kill("scorer")
        system.env["MP_SCORER_COMMIT_INTERVAL_S"] = "2.8"
        system.start("scorer")
        report = check(system, ledger, name="exactly-once-restart")
        assert report.events == (504, 504, 504, 0, 0)
        assert duplicates_dropped(system) == reread  # exactly the uncommitted events, nothing else

        # 2. a second worker joins, then leaves: partitions and their states move twice
        port = free_port()
        env = {**system.env, "MP_SCORER_WEB_PORT": str(port), "MP_SCORER_DATA_DIR": str(tmp_path / "w2")}
        second = start_service("scorer", env, system.log_dir / "worker-2")
        wait_for(f"http://127.0.0.1:{port}/readyz", second)
        second.stop()
        report = check(system, ledger, name="exactly-once-rebalance")
        assert report.events == (504, 504, 504, 0, 0)

        # 3. the whole topic again from offset 0: every record a repeat, every event counted once
        system.services["scorer"].stop()
        asyncio.run(replay_from_zero(system))
        system.start("scorer")
        report = check(system, ledger, name="exactly-once-replay")
        assert report.events == (504, 504, 504, 0, 0)
        assert duplicates_dropped(system) == 504  # the restarted worker dropped every event as a repeat
        assert touchpoint_records(system) == 12 + 252  # one grouped record per person, one per single event
