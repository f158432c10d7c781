"""With Kafka away ingest answers 503 + Retry-After (never 202); every service says so and recovers."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.system import KAFKA_SH, System, launch, own_broker
from tests.fixtures.touchpoints import touchpoint
from tests.fixtures.waiting import wait_for_counts

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def send_until_accepted(url: str, event: dict[str, object], refusals: list[int]) -> None:
    """What a well-behaved client does: on 503 wait Retry-After and send the same event again."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            answer = httpx.post(f"{url}/v1/events", json=event, timeout=30)
        except httpx.HTTPError:
            time.sleep(1)
            continue
        if answer.status_code == 202:
            return
        assert answer.status_code == 503, answer.text  # never an error that would make a client give up
        assert "Kafka is unavailable" in answer.json()["detail"]
        refusals.append(503)
        time.sleep(min(float(answer.headers["Retry-After"]), 2))
    raise AssertionError(f"never accepted: {event['event_id']}")


def readiness(system: System) -> dict[str, int]:
    codes = {}
    for name in ("ingest", "scorer", "api"):
        try:
            codes[name] = httpx.get(f"{system.url(name)}/readyz", timeout=5).status_code
        except httpx.HTTPError:
            codes[name] = 0
    return codes


def wait_readiness(system: System, wanted: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while (codes := readiness(system)) != dict.fromkeys(codes, wanted):
        assert time.monotonic() < deadline, f"readiness stayed {codes}, not all {wanted}"
        time.sleep(0.5)


def test_the_whole_system_rides_out_a_30_s_broker_outage_losing_and_doubling_nothing(tmp_path: Path) -> None:
    people = [f"o-{n}" for n in range(10)]
    before = [touchpoint(person, "web.page_view") for person in people]
    during = [touchpoint(person, kind) for person in people for kind in ("email.opened", "web.page_view")]
    during.append(touchpoint(people[0], "donation.failed", amount=40))
    with (
        own_broker(tmp_path / "kafka") as (bootstrap, broker_env),
        launch(bootstrap, tmp_path / "system", MP_INGEST_PRODUCE_TIMEOUT_S="3") as system,
    ):
        refusals: list[int] = []
        for event in before:
            send_until_accepted(system.ingest_url, event, refusals)
        wait_for_counts(system, dict.fromkeys(people, 1))

        subprocess.run([KAFKA_SH, "stop"], env=broker_env, check=True)
        stopped = time.monotonic()
        wait_readiness(system, 503, timeout_s=20)
        client = threading.Thread(
            target=lambda: [send_until_accepted(system.ingest_url, e, refusals) for e in during]
        )
        client.start()
        time.sleep(max(0.0, 30 - (time.monotonic() - stopped)))
        subprocess.run([KAFKA_SH, "start"], env=broker_env, check=True)
        client.join(timeout=200)
        assert not client.is_alive(), "the client's events were never all accepted"
        assert refusals, "ingest never refused while the broker was down"

        wait_readiness(system, 200, timeout_s=120)
        views = wait_for_counts(system, {p: 4 if p == people[0] else 3 for p in people}, timeout_s=120)
        assert views[people[0]]["counts"]["lifetime"]["by_type"]["donation.failed"] == 1
        alerts = httpx.get(
            f"{system.api_url}/v1/alerts",
            params={"constituent_id": people[0], "kind": "transaction.failed"},
        ).json()["alerts"]
        assert len(alerts) == 1, alerts
