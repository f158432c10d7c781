"""Two replicas of every service, restarted one at a time (SIGTERM, as a deployment rollout does) under
steady load: a client that retries on 503 or on the other ingest replica gets every event accepted, each
is scored once, every expected alert is raised once, and an alert-stream client that resumes on the other
API replica with Last-Event-ID receives every alert update exactly once, in order."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests.fixtures.ledger import alert_updates, check
from tests.fixtures.load import SteadyLoad
from tests.fixtures.replicas import Replica, second_replicas
from tests.fixtures.streams import AlertFollower
from tests.fixtures.system import launch

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def test_a_rolling_restart_of_two_replicas_of_every_service_fails_no_request_and_misses_no_alert(
    bootstrap: str, tmp_path: Path
) -> None:
    with launch(bootstrap, tmp_path / "system", MP_API_SSE_HEARTBEAT_S="1") as system:
        first = {
            name: Replica(name, system.env, system.log_dir, system.services[name])
            for name in ("ingest", "scorer", "api")
        }
        second = second_replicas(system, tmp_path)
        pairs = {name: [first[name], second[name]] for name in first}
        donors = [f"roll-donor-{n}-{uuid.uuid4().hex[:4]}" for n in range(20)]
        load = SteadyLoad(
            system,
            [f"roll-{n}-{uuid.uuid4().hex[:4]}" for n in range(30)],
            rate=30,
            ingest_urls=[replica.url for replica in pairs["ingest"]],
            scorer_urls=[replica.url for replica in pairs["scorer"]],
            alert_people=donors,
        )
        try:
            with AlertFollower([replica.url for replica in pairs["api"]]) as follower:
                with load:
                    time.sleep(3)
                    for name in ("ingest", "scorer", "api"):
                        for replica in pairs[name]:
                            replica.restart()
                            system.services[name] = first[name].service  # launch() stops what it holds
                            time.sleep(2)
                    time.sleep(3)
                report = check(
                    system,
                    load.ledger,
                    expected_alerts={donor: "transaction.failed" for donor in donors},
                    name="rolling-restart-services",
                    notes={
                        "share_503": round(load.share_503(), 4),  # and no answer: the other replica next
                        "longest_scoring_gap_s": load.longest_scoring_gap_s(),
                        "stream_connections": follower.connections,
                    },
                )
                updates = alert_updates(system)
                follower.wait_for(len(updates))
        finally:
            for replica in second.values():
                replica.service.stop()
    assert report.lost == 0 and report.doubled == 0, report
    assert report.accepted == report.sent, "a request failed for a client that retries"
    assert report.alerts_seen == report.alerts_expected == len(donors), report
    assert report.alerts_published_twice == 0
    assert follower.connections > 1, "the stream client was never moved to the other replica"
    streamed = [(update["alert_id"], update["status"]) for _, update in follower.received]
    assert streamed == [(update["alert_id"], update["status"]) for update in updates], (
        "the stream client missed, repeated or reordered alert updates"
    )
