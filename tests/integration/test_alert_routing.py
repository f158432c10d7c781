"""Every alert reaches the team that owns it: the owner label routes it in the real Alertmanager with the
shipped example configuration; an alert nobody acknowledged in time escalates once; a priority donor's
failed gift is critical; a whole group is acknowledged at once, one action per alert."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.config import CONFIG, REPO_ROOT
from tests.fixtures.ledger import alert_updates
from tests.fixtures.ops_tools import Receivers, alertmanager
from tests.fixtures.system import System, isolated_topics, launch
from tests.fixtures.touchpoints import touchpoint
from tests.fixtures.waiting import post_each

pytestmark = pytest.mark.integration
ACK_WITHIN_S = 4.0  # failed_transactions' ack_within_minutes, shortened


@pytest.fixture(scope="module")
def routed(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[System, Receivers]]:
    """A system whose failed-gift alerts escalate after 4 s unacknowledged, forwarding to a real
    Alertmanager configured with deploy/alertmanager/alertmanager.yml (receivers pointed here)."""
    tmp = tmp_path_factory.mktemp("alert-routing")
    rules = (CONFIG / "alerts.toml").read_text()
    assert "ack_within_minutes = 30\n" in rules
    (tmp / "alerts.toml").write_text(
        rules.replace("ack_within_minutes = 30\n", f"ack_within_minutes = {ACK_WITHIN_S / 60}\n")
    )
    receivers = Receivers()
    shipped = (REPO_ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text()
    config = shipped.replace("http://127.0.0.1:9095", receivers.url).replace(
        "group_wait: 30s", "group_wait: 1s"
    )
    try:
        with (
            alertmanager(config, tmp) as url,
            launch(
                bootstrap,
                tmp / "system",
                MP_ALERTS_CONFIG=str(tmp / "alerts.toml"),
                MP_API_ALERTMANAGER_URL=url,
                MP_API_ESCALATION_INTERVAL_S="0.5",
                **isolated_topics("alert-routing"),
            ) as system,
        ):
            yield system, receivers
    finally:
        receivers.close()


def alert_of(
    system: System, donor: str, wanted: Any = lambda alert: True, timeout_s: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        listed = httpx.get(f"{system.api_url}/v1/alerts", params={"constituent_id": donor}).json()["alerts"]
        if listed and wanted(listed[0]):
            return listed[0]  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"no such alert for {donor}: {listed}"
        time.sleep(0.2)


def failed_gift(system: System, amount: float = 25, gave_before: float = 0) -> dict[str, Any]:
    donor = f"rt-{uuid.uuid4().hex[:8]}"
    if gave_before:
        post_each(system, [touchpoint(donor, "donation.succeeded", amount=gave_before)])
    post_each(system, [touchpoint(donor, "donation.failed", amount=amount)])
    return alert_of(system, donor, lambda alert: alert["kind"] == "transaction.failed")


def test_a_finance_alert_reaches_the_finance_receiver_only(routed: tuple[System, Receivers]) -> None:
    system, receivers = routed
    alert = failed_gift(system)
    assert alert["owner"] == "finance"
    deadline = time.monotonic() + 30
    while not receivers.paths_of(alert["alert_id"]) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert receivers.paths_of(alert["alert_id"]) == {"/finance"}
    # Alertmanager routes an alert to every matching route the moment it takes it; its groups show
    # where it went, before any wrongly routed copy could be sent (no waiting for one that never comes)
    assert receivers_holding(system, alert["alert_id"]) == {"finance"}
    labels = next(
        a["labels"]
        for _, n in receivers.notifications
        for a in n["alerts"]
        if a["labels"]["alert_id"] == alert["alert_id"]
    )
    assert (labels["owner"], labels["rule"]) == ("finance", "failed-transaction")


def receivers_holding(system: System, alert_id: str) -> set[str]:
    """The receivers of Alertmanager's alert groups holding ``alert_id`` (its routing decision)."""
    groups = httpx.get(f"{system.env['MP_API_ALERTMANAGER_URL']}/api/v2/alerts/groups").json()
    return {
        group["receiver"]["name"]
        for group in groups
        for alert in group["alerts"]
        if alert["labels"].get("alert_id") == alert_id
    }


def test_an_alert_nobody_acknowledges_escalates_once_and_an_acknowledged_one_never(
    routed: tuple[System, Receivers],
) -> None:
    system, _ = routed
    ignored, handled = failed_gift(system), failed_gift(system)
    assert ignored["severity"] == handled["severity"] == "warning"
    assert httpx.post(f"{system.api_url}/v1/alerts/{handled['alert_id']}/ack").status_code == 200
    escalated = alert_of(system, ignored["constituent_id"], lambda a: a.get("escalated_unacknowledged"))
    assert escalated["severity"] == "critical"
    # the control: a gift failing now escalates ACK_WITHIN_S from now, so once it has, the escalation
    # loop has had all the time a second escalation, or one of the acknowledged alert, would have needed
    later = failed_gift(system)
    alert_of(system, later["constituent_id"], lambda a: a.get("escalated_unacknowledged"))
    updates = alert_updates(system)
    escalations = [u for u in updates if u.get("updated_by") == "escalation"]
    assert {u["alert_id"] for u in escalations} >= {ignored["alert_id"], later["alert_id"]}
    assert handled["alert_id"] not in {u["alert_id"] for u in escalations}
    assert sum(u["alert_id"] == ignored["alert_id"] for u in escalations) == 1
    assert httpx.get(f"{system.api_url}/v1/alerts/{handled['alert_id']}").json()["severity"] == "warning"


def test_a_priority_donors_failed_gift_is_critical_and_marked(routed: tuple[System, Receivers]) -> None:
    system, _ = routed
    alert = failed_gift(system, amount=25, gave_before=1500)
    assert (alert["severity"], alert["priority"]) == ("critical", ["major-donor"])


def test_a_group_is_acknowledged_at_once_with_one_action_per_alert(routed: tuple[System, Receivers]) -> None:
    system, _ = routed
    alerts = [failed_gift(system) for _ in range(3)]
    groups = httpx.get(f"{system.api_url}/v1/alerts/groups", params={"owner": "finance"}).json()["groups"]
    [group] = [g for g in groups if g["rule"] == "failed-transaction"]
    assert group["count"] >= 3 and {a["alert_id"] for a in alerts} <= set(group["alert_ids"])
    done = httpx.post(
        f"{system.api_url}/v1/alerts/groups/ack",
        json={"rule": "failed-transaction", "owner": "finance", "note": "card processor outage"},
    )
    assert done.status_code == 200, done.text
    assert {a["alert_id"] for a in alerts} <= set(done.json()["alert_ids"])
    for alert in alerts:
        acted = httpx.get(f"{system.api_url}/v1/alerts/{alert['alert_id']}").json()
        assert [(e["action"], e["note"]) for e in acted["actions"]] == [
            ("acknowledge", "card processor outage")
        ]
    again = httpx.get(f"{system.api_url}/v1/alerts/groups", params={"owner": "finance"}).json()["groups"]
    assert all(g["unacknowledged"] == 0 for g in again if g["rule"] == "failed-transaction")
