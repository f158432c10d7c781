"""Workers joining and leaving while events flow: the same final state, and hand-offs fire once."""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from services.common.processes import free_port
from services.domain.readings import score_record
from services.scorer.processing import BatchProcessor
from services.scorer.records import Incoming
from tests.fixtures.config import MODEL, RULES
from tests.fixtures.fast_rules import fast_rules
from tests.fixtures.ledger import Ledger, alert_updates, check
from tests.fixtures.system import Service, System, isolated_topics, launch, start_service, wait_for
from tests.fixtures.touchpoints import journey, touchpoint
from tests.fixtures.waiting import wait_for_counts

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def wait_for_alerts_on_topic(system: System, people: set[str], timeout_s: float = 60) -> None:
    """Until every one of ``people`` has a handoff.broken update on the alerts topic."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alerted = {u.get("constituent_id") for u in alert_updates(system) if u["kind"] == "handoff.broken"}
        if people <= alerted:
            return
        time.sleep(1)
    raise AssertionError(f"no broken hand-off for {sorted(people - alerted)}")


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

        ledger = Ledger()
        try:
            with httpx.Client(base_url=system.ingest_url) as client:

                def send(chunk: list[dict[str, Any]]) -> None:
                    for event in chunk:
                        assert ledger.post(client, [event]).status_code == 202

                send(chunks[0])
                second = add_worker(2)
                send(chunks[1])
                add_worker(3)
                send(chunks[2])
                second.stop()  # leaves while events flow: its partitions move with their state
                send(chunks[3])
            owed = {g["constituent_id"]: "handoff.broken" for g in forgotten}
            wait_for_alerts_on_topic(system, set(owed))
            report = check(system, ledger, expected_alerts=owed, name="scale-out")
            third = httpx.get(f"http://127.0.0.1:{worker_ports[1]}/metrics").text
            assert "mp_scorer_events_total{" in third, "the third worker never got a partition"
            views = wait_for_counts(system, ledger.expected_counts())
        finally:
            for worker in extra:
                worker.stop()

    assert report.events == (606, 606, 606, 0, 0)
    assert report.alerts == (6, 6, 0)  # each forgotten receipt broke exactly one hand-off, published once
    records = [Incoming(0, e["constituent_id"].encode(), orjson.dumps(e)) for e in events]
    expected = BatchProcessor(MODEL, RULES).process(records, lambda *_: None, time.time())
    for person in people:
        published = score_record(expected.changed[person], MODEL, 0.0)
        for dimension, value in published["scores"].items():
            assert views[person]["scores_at_last_event"][dimension] == pytest.approx(value, abs=0.011)
