"""The recurring-gift recovery loop end to end, through Stripe's own webhooks and the email events: a
failure, the recovery email, a card update and the next payment recover the gift; a bounced recovery
email stalls the case (an alert for fundraising) and a cancellation loses it; a scorer replaying the
same topics rebuilds the same cases."""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.fixtures.ledger import topic_values
from tests.fixtures.providers import stripe_event, stripe_signature
from tests.fixtures.replicas import replaying_scorer
from tests.fixtures.system import System, isolated_topics, launch
from tests.fixtures.touchpoints import touchpoint
from tests.fixtures.waiting import post_each

pytestmark = pytest.mark.integration
SECRET = "whsec_recovery"


@pytest.fixture(scope="module")
def system(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp("recovery")
    topics = isolated_topics("recovery")
    with launch(bootstrap, tmp / "system", MP_STRIPE_WEBHOOK_SECRETS=SECRET, **topics) as running:
        yield running


def stripe(system: System, kind: str, obj: dict[str, Any]) -> None:
    event = stripe_event(kind, obj, f"evt_{uuid.uuid4().hex[:12]}")
    event["created"] = int(time.time())
    payload = orjson.dumps(event)
    headers = {"Stripe-Signature": stripe_signature(payload, SECRET), "content-type": "application/json"}
    answer = httpx.post(f"{system.ingest_url}/v1/webhooks/stripe", content=payload, headers=headers)
    assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.text


def invoice(donor: str, attempt: int = 1) -> dict[str, Any]:
    charge = uuid.uuid4().hex[:8]
    return {
        "id": f"in_{charge}", "object": "invoice", "customer": f"cus_{donor}", "currency": "usd",
        "charge": f"ch_{charge}", "payment_intent": f"pi_{charge}", "subscription": f"sub_{donor}",
        "amount_due": 2500, "amount_paid": 2500, "attempt_count": attempt,
        "metadata": {"constituent_id": donor},
    }  # fmt: skip


def recovery_email(donor: str, kind: str) -> dict[str, Any]:
    return touchpoint(donor, f"email.{kind}", template="payment_recovery")


def case_of(system: System, donor: str, step: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        answer = httpx.get(f"{system.api_url}/v1/constituents/{donor}")
        cases = answer.json().get("recovery", []) if answer.is_success else []
        if cases and cases[0]["step"] == step:
            return cases[0]  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"{donor}'s case never reached {step}: {cases}"
        time.sleep(0.3)


def recovery_alert(system: System, donor: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        listed = httpx.get(f"{system.api_url}/v1/alerts", params={"constituent_id": donor}).json()["alerts"]
        found = [a for a in listed if a["kind"] == "recurring.recovery" and a["status"] == status]
        if found:
            return found[0]  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"no {status} recurring.recovery alert for {donor}: {listed}"
        time.sleep(0.3)


def test_failure_recovery_email_card_update_and_payment_recover_the_gift(system: System) -> None:
    donor = f"rec-{uuid.uuid4().hex[:6]}"
    stripe(system, "invoice.payment_failed", invoice(donor))
    assert case_of(system, donor, "failed")["attempts"] == 1
    listed = httpx.get(f"{system.api_url}/v1/recovery").json()
    assert (
        donor in {case["constituent_id"] for case in listed["cases"]}
        and listed["open_by_step"]["failed"] >= 1
    )
    post_each(system, [recovery_email(donor, "sent"), recovery_email(donor, "delivered")])
    case_of(system, donor, "email_delivered")
    card = {
        "id": f"pm_{donor}",
        "object": "payment_method",
        "customer": f"cus_{donor}",
        "metadata": {"constituent_id": donor},
    }
    stripe(system, "payment_method.attached", card)
    case_of(system, donor, "method_updated")
    stripe(system, "invoice.paid", invoice(donor))
    recovered = case_of(system, donor, "recovered")
    assert recovered["recovered_amount"] == 25.0
    assert donor not in {
        c["constituent_id"] for c in httpx.get(f"{system.api_url}/v1/recovery").json()["cases"]
    }
    listed_alerts = httpx.get(f"{system.api_url}/v1/alerts", params={"constituent_id": donor}).json()[
        "alerts"
    ]
    assert "recurring.recovery" not in {a["kind"] for a in listed_alerts}  # it never stalled
    metrics = httpx.get(f"{system.scorer_url}/metrics").text
    assert 'mp_scorer_recovery_cases_total{outcome="recovered"}' in metrics


def test_a_bounced_recovery_email_stalls_the_case_and_a_cancellation_loses_it(system: System) -> None:
    donor = f"rec-{uuid.uuid4().hex[:6]}"
    stripe(system, "invoice.payment_failed", invoice(donor))
    case_of(system, donor, "failed")
    post_each(system, [recovery_email(donor, "sent"), recovery_email(donor, "bounced")])
    stalled = recovery_alert(system, donor, "open")
    assert (stalled["owner"], stalled["rule"]) == ("fundraising", "recurring-recovery")
    assert "bounced" in stalled["title"]
    subscription = {"id": f"sub_{donor}", "object": "subscription", "customer": f"cus_{donor}",
                    "status": "canceled", "metadata": {"constituent_id": donor}}  # fmt: skip
    stripe(system, "customer.subscription.deleted", subscription)
    lost = recovery_alert(system, donor, "resolved")
    assert (
        lost["alert_id"] == stalled["alert_id"] and "Lost: the subscription was cancelled" in lost["detail"]
    )
    assert case_of(system, donor, "lost")["lost_reason"] == "cancelled"


def recovery_records(system: System) -> list[tuple[str, Any]]:
    records = [orjson.loads(value) for value in topic_values(system, "MP_TOPIC_SCORES") if value]
    return [(r["constituent_id"], r["recovery"]) for r in records if r.get("recovery")]


def test_a_scorer_replaying_the_same_topics_rebuilds_the_same_cases(system: System, tmp_path: Path) -> None:
    failed, emailed = f"rec-{uuid.uuid4().hex[:6]}", f"rec-{uuid.uuid4().hex[:6]}"
    for donor in (failed, emailed):  # cases of its own (with any the other tests left, in whatever order)
        stripe(system, "invoice.payment_failed", invoice(donor))
    post_each(system, [recovery_email(emailed, "sent"), recovery_email(emailed, "delivered")])
    case_of(system, failed, "failed")
    case_of(system, emailed, "email_delivered")
    before = recovery_records(system)
    live = dict(before)  # the newest record of each person with a case
    assert {failed, emailed} <= live.keys()
    live_records = Counter(person for person, _ in before)
    with replaying_scorer(system, tmp_path):
        deadline = time.monotonic() + 90
        while True:
            # A person's records keep their order (one partition), the topic's partitions do not: what the
            # replay published for a person is what comes after the live scorer's records for them.
            replayed = {}
            for person, records in by_person(recovery_records(system)).items():
                if len(records) > live_records[person]:
                    replayed[person] = records[-1]
            if replayed.keys() >= live.keys() and all(replayed[c] == live[c] for c in live):
                break
            assert time.monotonic() < deadline, f"replayed cases differ: {replayed} != {live}"
            time.sleep(1)


def by_person(records: list[tuple[str, Any]]) -> dict[str, list[Any]]:
    people: dict[str, list[Any]] = defaultdict(list)
    for person, cases in records:
        people[person].append(cases)
    return people
