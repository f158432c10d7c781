"""Workers joining and leaving while events flow: the same final state, and hand-offs fire once."""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path

import httpx
import orjson
import pytest

from services.common.processes import free_port
from services.domain.readings import score_record
from services.scorer.processing import BatchProcessor, Incoming
from tests.fixtures.config import MODEL, RULES
from tests.fixtures.fast_rules import fast_rules
from tests.fixtures.system import Service, isolated_topics, launch, start_service, wait_for
from tests.fixtures.touchpoints import journey, touchpoint
from tests.fixtures.waiting import post_each, wait_for_counts

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_one_two_three_workers_joining_and_leaving_give_the_same_state(
    bootstrap: str, tmp_path: Path
) -> None:
    rng = random.Random(3)
    people = [f"w-{n}" for n in range(30)]
    events = [event for person in people for event in journey(person, 20, rng)]
    rng.shuffle(events)
    forgotten = []  # gifts whose receipt never comes: each must break exactly one hand-off
    for n in range(6):
        gift = touchpoint(f"g-{uuid.uuid4().hex[:6]}", "donation.succeeded", amount=10)
        gift["correlation_id"] = f"pay-{n}"
        forgotten.append(gift)
    chunks = [
        events[:150] + forgotten[:2],
        events[150:300] + forgotten[2:4],
        events[300:450] + forgotten[4:],
        events[450:],
    ]

    rules = fast_rules(tmp_path)
    env_overrides = {"MP_ALERTS_CONFIG": str(rules), "MP_SCORER_SESSION_TIMEOUT_S": "6", **isolated_topics()}
    with launch(bootstrap, tmp_path / "system", **env_overrides) as system:
        extra: list[Service] = []
        worker_ports: list[int] = []

        def add_worker(n: int) -> Service:
            port = free_port()
            env = {
                **system.env,
                "MP_SCORER_WEB_PORT": str(port),
                "MP_SCORER_DATA_DIR": str(tmp_path / f"w{n}"),
            }
            worker = start_service("scorer", env, system.log_dir / f"worker-{n}")
            wait_for(f"http://127.0.0.1:{port}/healthz", worker)
            extra.append(worker)
            worker_ports.append(port)
            return worker

        try:
            post_each(system, chunks[0])
            second = add_worker(2)
            post_each(system, chunks[1])
            add_worker(3)
            post_each(system, chunks[2])
            second.stop()  # leaves while events flow: its partitions move with their state
            post_each(system, chunks[3])
            expected_counts = {p: 20 for p in people} | {g["constituent_id"]: 1 for g in forgotten}
            views = wait_for_counts(system, expected_counts, timeout_s=120)
            third = httpx.get(f"http://127.0.0.1:{worker_ports[1]}/metrics").text
            assert "mp_scorer_events_total{" in third, "the third worker never got a partition"

            owed = {g["constituent_id"] for g in forgotten}
            deadline = time.monotonic() + 60
            broken: dict[str, list[str]] = {}
            while time.monotonic() < deadline and not owed <= set(broken):
                listed = httpx.get(
                    f"{system.api_url}/v1/alerts", params={"kind": "handoff.broken", "limit": 1000}
                )
                broken = {}
                for alert in listed.json()["alerts"]:
                    if alert["rule"] == "handoff:donation-receipt" and alert["constituent_id"] in owed:
                        broken.setdefault(alert["constituent_id"], []).append(alert["alert_id"])
                time.sleep(0.5)
        finally:
            for worker in extra:
                worker.stop()

    assert owed == set(broken)
    assert all(len(ids) == 1 for ids in broken.values()), broken
    records = [Incoming(0, e["constituent_id"].encode(), orjson.dumps(e)) for e in events]
    expected = BatchProcessor(MODEL, RULES).process(records, lambda *_: None, time.time())
    for person in people:
        published = score_record(expected.changed[person], MODEL, 0.0)
        for dimension, value in published["scores"].items():
            assert views[person]["scores_at_last_event"][dimension] == pytest.approx(value, abs=0.011)
