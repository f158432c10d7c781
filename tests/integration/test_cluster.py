"""Beyond one broker: a replicated three-broker cluster loses a broker under steady load — killed, stopped
in turn, or cut off — without losing, doubling or falsely accepting anything. Each test reports the share
of 503s the client saw and the longest time scoring stood still (docs/reliability.md).

And two replicas of every service on it, restarted one at a time (SIGTERM, as a deployment rollout does)
under steady load: a client that retries on 503 or on the other ingest replica gets every event accepted,
each is scored once, every expected alert is raised once, and an alert-stream client that resumes on the
other API replica with Last-Event-ID receives every alert update exactly once, in order."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.cluster import (
    REPLICATED,
    Cluster,
    cluster,
    cut_off_a_leader,
    kill_a_leader,
    roll_the_brokers,
)
from tests.fixtures.ledger import alert_updates, check
from tests.fixtures.load import SteadyLoad
from tests.fixtures.replicas import Replica, second_replicas
from tests.fixtures.streams import AlertFollower
from tests.fixtures.system import System, launch

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.cluster]


@pytest.fixture(scope="module")
def three_brokers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster for the module (starting one takes a while); every test leaves all its nodes running."""
    with cluster(tmp_path_factory.mktemp("kafka")) as kafka:
        yield kafka


@pytest.fixture
def replicated(three_brokers: Cluster, tmp_path: Path) -> Iterator[tuple[Cluster, System]]:
    """A system of the test's own (its own topics and consumer groups) on the shared cluster."""
    try:
        with launch(three_brokers.bootstrap, tmp_path / "system", **REPLICATED) as system:
            yield three_brokers, system
    finally:
        three_brokers.heal()  # a test that failed mid-fault leaves the next one a whole cluster


def under_load(system: System, name: str, fault: Callable[[], object]) -> SteadyLoad:
    """Steady load with a failed gift every 30 requests (an alert each, before, during and after the fault);
    after 5 s ``fault``; 10 s more; then every event must be counted, and every alert published, once."""
    people = [f"{name}-{n}-{uuid.uuid4().hex[:4]}" for n in range(30)]
    donors = [f"{name}-donor-{n}-{uuid.uuid4().hex[:4]}" for n in range(12)]
    with SteadyLoad(system, people, rate=40, alert_people=donors, alert_every=30) as load:
        time.sleep(5)
        fault()
        time.sleep(10)
    assert len(load.alerted) >= 5, "too few failed gifts were sent to show alerts across the fault"
    report = check(
        system,
        load.ledger,
        expected_alerts={donor: "transaction.failed" for donor in load.alerted},
        name=name,
        notes={
            "share_503": round(load.share_503(), 4),
            "longest_scoring_gap_s": load.longest_scoring_gap_s(),
        },
        settle_s=5,
    )
    assert report.lost == 0 and report.doubled == 0, report
    assert report.accepted == report.sent  # every event the client sent was accepted in the end
    assert report.alerts_seen == report.alerts_expected == len(load.alerted), report
    assert report.alerts_published_twice == 0
    return load


def test_the_leaders_broker_killed_and_restarted_under_load_loses_and_doubles_nothing(
    replicated: tuple[Cluster, System],
) -> None:
    kafka, system = replicated
    under_load(system, "cluster-leader-killed", lambda: kill_a_leader(kafka, system))


def test_a_rolling_restart_of_every_broker_under_load_loses_and_doubles_nothing(
    replicated: tuple[Cluster, System],
) -> None:
    kafka, system = replicated
    under_load(system, "cluster-rolling-brokers", lambda: roll_the_brokers(kafka))


def test_a_broker_cut_off_longer_than_its_session_then_back_loses_and_doubles_nothing(
    replicated: tuple[Cluster, System],
) -> None:
    kafka, system = replicated
    cut_s = 25
    load = under_load(system, "cluster-broker-partitioned", lambda: cut_off_a_leader(kafka, system, cut_s))
    # Requests to the silent broker are abandoned after MP_KAFKA_REQUEST_TIMEOUT_S (5 s) and go to the new
    # leaders: scoring resumes while the broker is still cut off (it stood still for the whole cut before).
    assert load.longest_scoring_gap_s() < cut_s, "scoring waited for the silent broker to come back"


def test_a_rolling_restart_of_two_replicas_of_every_service_fails_no_request_and_misses_no_alert(
    three_brokers: Cluster, tmp_path: Path
) -> None:
    bootstrap = three_brokers.bootstrap
    with launch(bootstrap, tmp_path / "system", MP_API_SSE_HEARTBEAT_S="1", **REPLICATED) as system:
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
                for _ in range(3):  # the stream ran ahead of the read: the topic grew since (read it again)
                    if len(follower.received) <= len(updates):
                        break
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
        "the stream client missed, repeated or reordered alert updates: "
        f"{len(streamed)} streamed over {follower.connections} connections, {len(updates)} on the topic; "
        f"kinds on the topic {Counter(update['kind'] for update in updates)}"
    )
