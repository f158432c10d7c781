"""`make chaos`: a long soak on a replicated three-broker cluster with two replicas of every service, a
seeded random fault every few minutes, and the checker at the end — every accepted event scored exactly
once, every expected alert raised once (docs/reliability.md, "Chaos soak").

CHAOS_MINUTES (30), CHAOS_SEED (1) and CHAOS_RATE (events/s, 30) choose the run; it stops by itself and
writes its fault log and report to test-artifacts/chaos/."""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
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
from tests.fixtures.replicas import Replica, second_replicas
from tests.fixtures.system import System, launch

MINUTES = float(os.environ.get("CHAOS_MINUTES", "30"))
SEED = int(os.environ.get("CHAOS_SEED", "1"))
RATE = float(os.environ.get("CHAOS_RATE", "30"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "chaos"

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(int(MINUTES * 60) + 1800)]


def faults(
    kafka: Cluster, system: System, replicas: dict[str, list[Replica]], rng: random.Random
) -> dict[str, Callable[[], str]]:
    """Each fault does its harm and heals it; it returns what exactly it did."""

    def restart_a_replica() -> str:
        name = rng.choice(sorted(replicas))
        which = rng.randrange(len(replicas[name]))
        replicas[name][which].restart()
        if which == 0:
            system.services[name] = replicas[name][0].service  # launch() stops what it holds
        return f"{name} replica {which + 1} restarted (SIGTERM)"

    return {
        "leader killed": lambda: kill_a_leader(kafka, system),
        "brokers rolled": lambda: roll_the_brokers(kafka),
        "leader cut off": lambda: cut_off_a_leader(kafka, system),
        "service replica restarted": restart_a_replica,
    }


def test_chaos_soak_loses_doubles_and_misses_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    people = [f"chaos-{n}-{uuid.uuid4().hex[:4]}" for n in range(30)]
    donors = [f"chaos-donor-{n}-{uuid.uuid4().hex[:4]}" for n in range(20)]
    requests = int(MINUTES * 60 * RATE)
    log: list[dict[str, object]] = []
    with (
        cluster(tmp_path / "kafka") as kafka,
        launch(kafka.bootstrap, tmp_path / "system", **REPLICATED) as system,
    ):
        first = {
            name: Replica(name, system.env, system.log_dir, system.services[name]) for name in system.services
        }
        second = second_replicas(system, tmp_path)
        replicas = {name: [first[name], second[name]] for name in first}
        menu = faults(kafka, system, replicas, rng)
        load = SteadyLoad(
            system,
            people,
            rate=RATE,
            ingest_urls=[replica.url for replica in replicas["ingest"]],
            scorer_urls=[replica.url for replica in replicas["scorer"]],
            alert_people=donors,
            alert_every=max(10, requests // (len(donors) + 1)),  # spread over the whole run
        )
        started = time.monotonic()
        try:
            with load:
                while time.monotonic() - started < MINUTES * 60 - 90:
                    time.sleep(
                        min(rng.uniform(60, 150), max(0.0, MINUTES * 60 - 90 - (time.monotonic() - started)))
                    )
                    if time.monotonic() - started >= MINUTES * 60 - 90:
                        break
                    name = rng.choice(sorted(menu))
                    at = round(time.monotonic() - started)
                    what = menu[name]()
                    log.append({"at_s": at, "fault": name, "what": what})
                    print(f"[chaos] {at:>5} s  {what}", flush=True)
                remaining = MINUTES * 60 - (time.monotonic() - started)
                time.sleep(max(0.0, remaining))
            report = check(
                system,
                load.ledger,
                expected_alerts={donor: "transaction.failed" for donor in load.alerted},
                name="chaos",
                settle_s=5,
                notes={
                    "minutes": MINUTES,
                    "seed": SEED,
                    "rate": RATE,
                    "faults": log,
                    "share_503": round(load.share_503(), 4),
                    "longest_scoring_gap_s": load.longest_scoring_gap_s(),
                },
            )
        finally:
            for replica in second.values():
                replica.service.stop()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"chaos-seed{SEED}.json").write_bytes(
        orjson.dumps({"report": str(report), "faults": log}, option=orjson.OPT_INDENT_2)
    )
    assert log, "no fault happened: the run was too short to prove anything"
    assert report.lost == 0 and report.doubled == 0, report
    assert report.accepted == report.sent, "a request failed for a client that retries"
    assert report.alerts_seen == report.alerts_expected, report
    assert report.alerts_published_twice == 0
