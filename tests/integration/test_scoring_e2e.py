"""Scores through the real broker: order, duplicates and a killed scorer change nothing."""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.domain.readings import score_record
from services.scorer.processing import BatchProcessor
from services.scorer.records import Incoming
from tests.fixtures.config import MODEL, RULES
from tests.fixtures.ledger import Ledger, check
from tests.fixtures.system import System, isolated_topics, launch
from tests.fixtures.touchpoints import journey
from tests.fixtures.waiting import wait_for_counts

pytestmark = pytest.mark.integration


def comparable(view: dict[str, Any]) -> dict[str, Any]:
    return {key: view[key] for key in ("scores_at_last_event", "roles", "last_event_at", "last_touch")} | {
        "lifetime": view["counts"]["lifetime"]
    }


def test_the_same_events_in_another_order_and_with_duplicates_give_identical_scores(system: System) -> None:
    rng = random.Random(11)
    tag = uuid.uuid4().hex[:6]
    events = journey(f"fwd-{tag}", 40, rng)
    reordered = [{**e, "constituent_id": f"rev-{tag}"} for e in reversed(events)]
    shuffled_twice = [{**e, "constituent_id": f"dup-{tag}"} for e in events + events[:15]]
    rng.shuffle(shuffled_twice)

    ledger = Ledger()
    with httpx.Client(base_url=system.ingest_url) as client:
        for event in events + reordered + shuffled_twice:
            assert ledger.post(client, [event]).status_code == 202
    report = check(system, ledger, name="order-and-duplicates")
    assert report.events == (120, 120, 120, 0, 0)
    views = wait_for_counts(system, {f"fwd-{tag}": 40, f"rev-{tag}": 40, f"dup-{tag}": 40})
    forward, backward, duplicated = (comparable(views[f"{p}-{tag}"]) for p in ("fwd", "rev", "dup"))
    assert forward == backward == duplicated


def duplicates_dropped(system: System) -> int:
    """Events the (current) scorer process dropped as repeats, from its metrics."""
    text = httpx.get(f"{system.scorer_url}/metrics").text
    return round(
        sum(
            float(value)
            for value in re.findall(
                r'^mp_scorer_events_total\{[^}]*outcome="duplicate"[^}]*\} (\S+)$', text, re.M
            )
        )
    )


async def uncommitted(system: System) -> int:
    """Records on the touchpoints topic beyond the offsets the scorer's group committed."""
    topic, group = system.topic("MP_TOPIC_TOUCHPOINTS"), system.env["MP_SCORER_APP_ID"]
    admin = AIOKafkaAdminClient(bootstrap_servers=system.bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=system.bootstrap)
    await admin.start()
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(8)]
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        done = {tp: max(0, committed[tp].offset) if tp in committed else 0 for tp in partitions}
        return sum(ends[tp] - done[tp] for tp in partitions)
    finally:
        await consumer.stop()
        await admin.close()


@pytest.mark.faults
@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_a_scorer_killed_mid_stream_loses_and_doubles_nothing(
    bootstrap: str, tmp_path: Path, store: str
) -> None:
    rng = random.Random(5)
    people = [f"k-{n}" for n in range(12)]
    events = [event for person in people for event in journey(person, 25, rng)]
    rng.shuffle(events)
    first, second, third = events[:120], events[120:200], events[200:]

    topics = isolated_topics()
    settings = {"MP_SCORER_STORE": store, "MP_SCORER_SESSION_TIMEOUT_S": "6", **topics}
    # offsets committed every 60 s: when the worker dies, what it scored since is still uncommitted
    settings["MP_SCORER_COMMIT_INTERVAL_S"] = "60"
    ledger = Ledger()
    with (
        launch(bootstrap, tmp_path, **settings) as system,
        httpx.Client(base_url=system.ingest_url) as client,
    ):
        for event in first + second:
            assert ledger.post(client, [event]).status_code == 202
        wait_for_counts(system, ledger.expected_counts())  # everything sent so far is scored …
        reread = asyncio.run(uncommitted(system))
        assert reread > 0, "nothing was left uncommitted: the kill would prove nothing"  # … not all committed
        system.kill("scorer")
        resent = first[:30]  # a client's retries of events already scored
        for event in third + resent:
            assert ledger.post(client, [event]).status_code == 202
        system.env["MP_SCORER_COMMIT_INTERVAL_S"] = "2.8"  # the restarted worker commits as usual
        system.start("scorer")
        notes = {"uncommitted_at_kill": reread, "resent": len(resent)}
        report = check(system, ledger, name=f"scorer-killed-{store.rstrip(':/')}", notes=notes)
        assert (report.sent, report.accepted, report.scored, report.lost, report.doubled) == (
            300,
            300,
            300,
            0,
            0,
        )
        # the restarted worker read again exactly what was uncommitted, and dropped it with the client's
        # retries: no record reached it twice (services/faust_fixes)
        assert duplicates_dropped(system) == reread + len(resent)
        views = wait_for_counts(system, {p: 25 for p in people}, timeout_s=90)

    records = [Incoming(0, e["constituent_id"].encode(), orjson.dumps(e)) for e in events]
    expected = BatchProcessor(MODEL, RULES).process(records, lambda *_: None, time.time())
    for person in people:
        published = score_record(expected.changed[person], MODEL, 0.0)
        for dimension, value in published["scores"].items():
            assert views[person]["scores_at_last_event"][dimension] == pytest.approx(value, abs=0.011)
        assert views[person]["roles"] == published["roles"]
