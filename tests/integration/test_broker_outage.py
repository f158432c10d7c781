"""With Kafka away ingest answers 503 + Retry-After (never 202); every service says so and recovers."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fixtures.ledger import Ledger, alert_updates, check
from tests.fixtures.system import KAFKA_SH, System, launch, own_broker
from tests.fixtures.touchpoints import touchpoint

pytestmark = [pytest.mark.integration, pytest.mark.faults]
RETRY_AFTER_S = "5"  # MP_INGEST_RETRY_AFTER_S's default


@dataclass(frozen=True)
class Answer:
    sent_at: float  # monotonic, when the request left
    answered_at: float
    status: int


def send_until_accepted(
    client: httpx.Client, ledger: Ledger, event: dict[str, object], answers: list[Answer]
) -> None:
    """What a well-behaved client does: on 503 wait Retry-After and send the same event again. Runs in a
    thread: any wrong answer raises, and the test sees it through the future's result."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        sent_at = time.monotonic()
        try:
            answer = ledger.post(client, [event])  # type: ignore[list-item]
        except httpx.HTTPError:
            time.sleep(1)
            continue
        answers.append(Answer(sent_at, time.monotonic(), answer.status_code))
        if answer.status_code == 202:
            return
        assert answer.status_code == 503, answer.text  # never an error that would make a client give up
        assert "Kafka is unavailable" in answer.json()["detail"]
        assert answer.headers["Retry-After"] == RETRY_AFTER_S
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
    before.append(touchpoint(people[1], "donation.failed", amount=15))  # an alert to act on while down
    during = [touchpoint(person, kind) for person in people for kind in ("email.opened", "web.page_view")]
    during.append(touchpoint(people[0], "donation.failed", amount=40))
    ledger, answers = Ledger(), list[Answer]()
    with (
        own_broker(tmp_path / "kafka") as (bootstrap, broker_env),
        launch(bootstrap, tmp_path / "system", MP_INGEST_PRODUCE_TIMEOUT_S="3") as system,
        httpx.Client(base_url=system.ingest_url, timeout=30) as client,
        ThreadPoolExecutor(1) as pool,
    ):
        for event in before:
            send_until_accepted(client, ledger, event, answers)
        check(system, ledger)
        [earlier] = httpx.get(f"{system.api_url}/v1/alerts", params={"constituent_id": people[1]}).json()[
            "alerts"
        ]

        subprocess.run([KAFKA_SH, "stop"], env=broker_env, check=True)
        stopped = time.monotonic()
        wait_readiness(system, 503, timeout_s=20)
        acted = httpx.post(f"{system.api_url}/v1/alerts/{earlier['alert_id']}/ack", timeout=30)
        assert acted.status_code == 503 and acted.headers["Retry-After"] == RETRY_AFTER_S  # nothing recorded
        assert acted.json()["detail"].startswith("not recorded")
        sending = pool.submit(lambda: [send_until_accepted(client, ledger, e, answers) for e in during])
        time.sleep(max(0.0, 30 - (time.monotonic() - stopped)))
        restarting = time.monotonic()
        subprocess.run([KAFKA_SH, "start"], env=broker_env, check=True)
        sending.result(timeout=200)  # raises what the client thread's assertions raised

        down = [a for a in answers if a.sent_at >= stopped and a.answered_at <= restarting]
        assert down and {a.status for a in down} == {503}, "a 202 (or nothing but 202s) while Kafka was down"
        wait_readiness(system, 200, timeout_s=120)
        report = check(
            system,
            ledger,
            expected_alerts={people[0]: "transaction.failed", people[1]: "transaction.failed"},
            name="broker-outage",
            notes={"answers_503": sum(a.status == 503 for a in answers), "answers_while_down": len(down)},
        )
        updates = alert_updates(system)
    assert report.events == (32, 32, 32, 0, 0)
    assert report.alerts == (2, 2, 0)
    acknowledged = [u for u in updates if u.get("acknowledged_by")]
    assert acknowledged == [], "an acknowledgement answered 503 was recorded anyway"
