"""Operators acknowledge and resolve alerts through the API; every replica and live client sees it."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from services.common.processes import free_port
from tests.fixtures.ledger import alert_updates, touchpoint_records
from tests.fixtures.system import Keys, System, start_service, wait_for
from tests.fixtures.touchpoints import touchpoint

pytestmark = pytest.mark.integration


def failed_donation(system: System, keys: Keys) -> dict[str, Any]:
    """Send a donation.failed for a new donor; the transaction.failed alert it opened."""
    donor = f"d-{uuid.uuid4().hex[:8]}"
    event = touchpoint(donor, "donation.failed", amount=25, currency="USD")
    answer = httpx.post(f"{system.ingest_url}/v1/events", json=event, headers=keys.header("ingest"))
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = httpx.get(
            f"{system.api_url}/v1/alerts", params={"constituent_id": donor}, headers=keys.header("read")
        ).json()["alerts"]
        if found:
            return found[0]  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"no alert for {donor}")


def read_back(system: System, keys: Keys, alert_id: str, field: str) -> dict[str, Any]:
    """The alert as the API serves it, once ``field`` is set (an action answered 202 is read back later)."""
    deadline = time.monotonic() + 15
    while True:
        alert = httpx.get(f"{system.api_url}/v1/alerts/{alert_id}", headers=keys.header("read")).json()
        if alert.get(field) or time.monotonic() > deadline:
            return alert  # type: ignore[no-any-return]
        time.sleep(0.2)


def test_only_a_key_with_the_operate_scope_may_act_and_the_action_records_which_key_and_when(
    secured: System, keys: Keys
) -> None:
    alert = failed_donation(secured, keys)
    ack = f"{secured.api_url}/v1/alerts/{alert['alert_id']}/ack"
    assert httpx.post(ack).status_code == 401
    refused = httpx.post(ack, headers=keys.header("read"))
    assert refused.status_code == 403
    assert refused.json()["detail"] == "key 'dashboard' lacks the 'operate' scope"
    assert httpx.get(
        f"{secured.api_url}/v1/alerts/{alert['alert_id']}", headers=keys.header("write")
    ).is_success

    done = httpx.post(
        ack, json={"operator": "Dana", "note": "calling the donor"}, headers=keys.header("write")
    )
    assert done.status_code in (200, 202), done.text  # 202: recorded, this replica reads it back later
    acknowledged = read_back(secured, keys, alert["alert_id"], "acknowledged_at")
    assert acknowledged["status"] == "open"
    assert acknowledged["acknowledged_by"] == "on-call"  # the key's name, whatever the body says
    assert acknowledged["actions"][0]["note"] == "calling the donor"
    assert acknowledged["actions"][0]["on_behalf_of"] == "Dana"
    again = httpx.post(ack, headers=keys.header("write"))
    assert again.status_code == 409
    assert "already acknowledged by on-call" in again.json()["detail"]

    resolve = f"{secured.api_url}/v1/alerts/{alert['alert_id']}/resolve"
    assert httpx.post(resolve, headers=keys.header("write")).status_code in (200, 202)
    resolved = read_back(secured, keys, alert["alert_id"], "resolved_by")
    assert (resolved["status"], resolved["resolved_by"]) == ("resolved", "on-call")  # the key's name
    assert resolved["acknowledged_by"] == "on-call"
    assert httpx.post(resolve, headers=keys.header("write")).status_code == 409
    unknown = httpx.post(f"{secured.api_url}/v1/alerts/no-such-alert/ack", headers=keys.header("write"))
    assert unknown.status_code == 404


def test_the_system_strip_counts_records_into_kafka_and_open_alerts(secured: System, keys: Keys) -> None:
    failed_donation(secured, keys)
    records = touchpoint_records(secured)  # what the topic itself says
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the strip samples Kafka every 5 s; the scorer commits every 2.8 s
        system = httpx.get(f"{secured.api_url}/v1/system", headers=keys.header("read")).json()
        if system["touchpoint_records_total"] == records and system["scorer_lag_records"] == 0:
            break
        time.sleep(1)
    assert (system["touchpoint_records_total"], system["scorer_lag_records"]) == (records, 0), system
    open_alerts = {u["alert_id"] for u in alert_updates(secured) if u["status"] == "open"}
    assert sum(system["open_alerts"].values()) <= len(open_alerts)
    assert system["open_alerts"]["transaction.failed"] >= 1
    assert system["api_caught_up"] is True


def test_another_replica_and_its_live_clients_see_the_acknowledgement(
    secured: System, keys: Keys, tmp_path: Any
) -> None:
    alert = failed_donation(secured, keys)
    port = free_port()
    replica = start_service("api", {**secured.env, "MP_API_PORT": str(port)}, tmp_path)
    other = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{other}/readyz", replica)
        with httpx.stream(
            "GET",
            f"{other}/v1/alerts/stream",
            params={"constituent_id": alert["constituent_id"]},
            headers=keys.header("read"),
            timeout=httpx.Timeout(10, read=30),
        ) as stream:
            acted = httpx.post(
                f"{secured.api_url}/v1/alerts/{alert['alert_id']}/ack", headers=keys.header("write")
            )
            assert acted.status_code in (200, 202)
            deadline = time.monotonic() + 30  # keep-alives every 15 s would defeat a read timeout alone
            for line in stream.iter_lines():
                if line.startswith("data: ") and '"acknowledged_by":"on-call"' in line:
                    break
                assert time.monotonic() < deadline, "the other replica's stream never showed the ack"
        seen = httpx.get(f"{other}/v1/alerts/{alert['alert_id']}", headers=keys.header("read")).json()
        assert seen["acknowledged_by"] == "on-call"
    finally:
        replica.stop()


def test_an_action_this_replica_has_not_read_back_yet_is_answered_202_and_shows_later(
    secured: System, keys: Keys, tmp_path: Any
) -> None:
    alerts = [failed_donation(secured, keys) for _ in range(3)]
    port = free_port()
    # a replica that never waits to read its own writes back: a recorded action is answered 202 unless its
    # view happened to apply the record already while the send was acknowledged (then 200, rightly): of
    # three actions, at least one is answered 202
    env = {**secured.env, "MP_API_PORT": str(port), "MP_API_READ_BACK_TIMEOUT_S": "0"}
    replica = start_service("api", env, tmp_path)
    other = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{other}/readyz", replica)
        for alert in alerts:
            acted = httpx.post(f"{other}/v1/alerts/{alert['alert_id']}/ack", headers=keys.header("write"))
            assert acted.status_code in (200, 202), acted.text
            if acted.status_code == 202:
                break
        assert acted.status_code == 202, "every action was already read back: the 202 path never ran"
        assert (acted.json()["alert_id"], acted.json()["acknowledged_by"]) == (alert["alert_id"], "on-call")
        shown = read_back(secured, keys, alert["alert_id"], "acknowledged_at")  # recorded: every replica
        assert shown["acknowledged_by"] == "on-call"
    finally:
        replica.stop()
