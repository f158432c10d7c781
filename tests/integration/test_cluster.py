"""Beyond one broker: a replicated three-broker cluster loses a broker under steady load — killed, stopped
in turn, or cut off — without losing, doubling or falsely accepting anything. Each test reports the share
of 503s the client saw and the longest time scoring stood still (docs/reliability.md)."""

from __future__ import annotations

import time
import uuid
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
from tests.fixtures.ledger import check
from tests.fixtures.load import SteadyLoad
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
    """Steady load; after 5 s ``fault``; 10 s more; then everything must be counted exactly once."""
    people = [f"{name}-{n}-{uuid.uuid4().hex[:4]}" for n in range(30)]
    with SteadyLoad(system, people, rate=40) as load:
        time.sleep(5)
        fault()
        time.sleep(10)
    report = check(
        system,
        load.ledger,
        name=name,
        notes={
            "share_503": round(load.share_503(), 4),
            "longest_scoring_gap_s": load.longest_scoring_gap_s(),
        },
        settle_s=5,
    )
    assert report.lost == 0 and report.doubled == 0, report
    assert report.accepted == report.sent  # every event the client sent was accepted in the end
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
