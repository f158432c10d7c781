"""Beyond one broker: a replicated three-broker cluster loses a broker under steady load — killed, stopped
in turn, or cut off — without losing, doubling or falsely accepting anything. Each test reports the share
of 503s the client saw and the longest time scoring stood still (docs/reliability.md)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.fixtures.cluster import Cluster, cluster
from tests.fixtures.ledger import check
from tests.fixtures.load import SteadyLoad
from tests.fixtures.system import System, launch

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.cluster]
REPLICATED = {"MP_TOPIC_REPLICATION": "3", "MP_TOPIC_MIN_INSYNC_REPLICAS": "2"}


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


def leader_of_touchpoints(kafka: Cluster, system: System, partition: int = 0) -> int:
    """The node leading one partition of the touchpoints topic."""

    async def ask() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap)
        await consumer.start()
        try:
            await consumer._client.force_metadata_update()
            topic = TopicPartition(system.topic("MP_TOPIC_TOUCHPOINTS"), partition)
            leader = consumer._client.cluster.leader_for_partition(topic)
            assert leader is not None and leader >= 0, "no leader"
            return int(leader)
        finally:
            await consumer.stop()

    return asyncio.run(ask())


def under_load(system: System, name: str, fault: Callable[[], None]) -> SteadyLoad:
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

    def kill_the_leader() -> None:
        leader = leader_of_touchpoints(kafka, system)
        kafka.kill(leader)
        time.sleep(10)
        kafka.start(leader)

    under_load(system, "cluster-leader-killed", kill_the_leader)


def test_a_rolling_restart_of_every_broker_under_load_loses_and_doubles_nothing(
    replicated: tuple[Cluster, System],
) -> None:
    kafka, system = replicated

    def roll() -> None:
        for node in range(1, kafka.size + 1):
            kafka.stop(node)
            kafka.start(node)
            time.sleep(3)  # its replicas catch up before the next goes

    under_load(system, "cluster-rolling-brokers", roll)


def test_a_broker_cut_off_longer_than_its_session_then_back_loses_and_doubles_nothing(
    replicated: tuple[Cluster, System],
) -> None:
    kafka, system = replicated

    cut_s = 25

    def partition() -> None:
        leader = leader_of_touchpoints(kafka, system)
        kafka.pause(leader)  # alive, silent: its session (3 s here) expires, others take over
        time.sleep(cut_s)
        kafka.resume(leader)

    load = under_load(system, "cluster-broker-partitioned", partition)
    # Requests to the silent broker are abandoned after MP_KAFKA_REQUEST_TIMEOUT_S (5 s) and go to the new
    # leaders: scoring resumes while the broker is still cut off (it stood still for the whole cut before).
    assert load.longest_scoring_gap_s() < cut_s, "scoring waited for the silent broker to come back"
