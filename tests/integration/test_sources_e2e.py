"""Providers' webhooks over HTTP into a running system: verified, resolved to one person, counted once."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from services.ingest.adapters.beacon import user_hash
from tests.fixtures.ledger import topic_values, wait_quiescent
from tests.fixtures.providers import (
    SES_TOPIC_ARN,
    payment_intent,
    sendgrid_event,
    sendgrid_key,
    sendgrid_signature,
    ses_event,
    sns_message,
    sns_signer,
    stripe_event,
    stripe_signature,
)
from tests.fixtures.system import System, isolated_topics, launch
from tests.fixtures.waiting import dead_letter_where

pytestmark = pytest.mark.integration
STRIPE_SECRET = "whsec_integration"
ORIGIN = "https://www.org.example"
BEACON_SECRET = "beacon-secret"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("sns-certificates")
    sns_key, certificate = sns_signer()
    (folder / "SimpleNotificationService-test.pem").write_bytes(certificate)
    sendgrid_private, sendgrid_public = sendgrid_key()
    return {
        "sns": sns_key,
        "sns_folder": folder,
        "sendgrid": sendgrid_private,
        "sendgrid_public": sendgrid_public,
    }


@pytest.fixture(scope="module")
def sources(
    bootstrap: str, tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Any]
) -> Iterator[System]:
    env = {
        "MP_STRIPE_WEBHOOK_SECRETS": f"whsec_old,{STRIPE_SECRET}",
        "MP_SENDGRID_VERIFICATION_KEY": keys["sendgrid_public"],
        "MP_SNS_CERTIFICATE_DIR": str(keys["sns_folder"]),
        "MP_SES_TOPIC_ARNS": SES_TOPIC_ARN,
        "MP_BEACON_ORIGINS": ORIGIN,
        "MP_BEACON_SECRET": BEACON_SECRET,
        **isolated_topics(),
    }
    with launch(bootstrap, tmp_path_factory.mktemp("sources"), **env) as system:
        yield system


def post_stripe(system: System, event: dict[str, Any], secret: str = STRIPE_SECRET) -> httpx.Response:
    payload = orjson.dumps(event)
    return httpx.post(
        f"{system.ingest_url}/v1/webhooks/stripe",
        content=payload,
        headers={"Stripe-Signature": stripe_signature(payload, secret), "content-type": "application/json"},
    )


def post_sendgrid(system: System, events: list[dict[str, Any]], private: Any) -> httpx.Response:
    payload = orjson.dumps(events)
    stamp = str(int(time.time()))
    return httpx.post(
        f"{system.ingest_url}/v1/webhooks/sendgrid",
        content=payload,
        headers={
            "X-Twilio-Email-Event-Webhook-Signature": sendgrid_signature(private, payload, stamp),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
            "content-type": "application/json",
        },
    )


def constituent(system: System, constituent_id: str, events: int, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = httpx.get(f"{system.api_url}/v1/constituents/{constituent_id}")
        body = answer.json()
        if answer.status_code == 200 and body["events"] >= events:
            return body
        time.sleep(0.3)
    raise AssertionError(f"{constituent_id} never reached {events} events: {body}")


def test_stripe_sendgrid_ses_and_the_beacon_land_on_one_identified_person(
    sources: System, keys: dict[str, Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    person, email, customer, user = f"donor-{tag}", f"ada.{tag}@example.org", f"cus_{tag}", f"u-{tag}"
    linked = httpx.post(
        f"{sources.ingest_url}/v1/identify",
        json={"constituent_id": person, "email": email, "stripe_customer": customer, "web_user": user},
    ).json()
    assert linked == {"constituent_id": person, "linked": 3, "moved": []}

    gift = stripe_event(
        "payment_intent.succeeded",
        payment_intent(customer=customer, receipt_email=None, latest_charge=f"ch_{tag}"),
        f"evt_{tag}",
    )
    assert post_stripe(sources, gift).json() == {"accepted": 1, "dead_lettered": 0}
    opened = sendgrid_event("open", email=email.upper(), sg_event_id=f"sg-{tag}")
    assert post_sendgrid(sources, [opened], keys["sendgrid"]).status_code == 200
    delivery = sns_message(keys["sns"], ses_event("Delivery", [email]), MessageId=f"sns-{tag}")
    assert httpx.post(f"{sources.ingest_url}/v1/webhooks/ses", json=delivery).json()["accepted"] == 1
    beacon = {
        "type": "page_view",
        "user_id": user,
        "user_hash": user_hash(BEACON_SECRET.encode(), user),  # what the site's backend put in the page
        "url": "https://www.org.example/thanks",
    }
    response = httpx.post(
        f"{sources.ingest_url}/v1/collect",
        content=orjson.dumps(beacon),
        headers={"content-type": "text/plain", "origin": ORIGIN},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN

    seen = constituent(sources, person, 4)
    assert seen["counts"]["lifetime"]["by_source"] == {"donation": 1, "email": 2, "web": 1}
    assert "donor" in seen["roles"]


def test_a_provider_retry_is_answered_2xx_and_counted_once(sources: System) -> None:
    tag = uuid.uuid4().hex[:8]
    gift = stripe_event(
        "payment_intent.succeeded",
        payment_intent(customer=f"cus_{tag}", receipt_email=None, latest_charge=f"ch_{tag}"),
        f"evt_{tag}",
    )
    for _ in range(3):
        assert post_stripe(sources, gift).status_code == 200
    failure = stripe_event(
        "payment_intent.payment_failed",
        payment_intent(customer=f"cus_{tag}", receipt_email=None, latest_charge=f"ch2_{tag}"),
        f"evt2_{tag}",
    )
    assert post_stripe(sources, failure).status_code == 200
    resolved = httpx.post(f"{sources.ingest_url}/v1/identify", json={"stripe_customer": f"cus_{tag}"}).json()
    person = resolved["constituent_id"]
    assert wait_quiescent(sources, [person]) == {person: 2}  # settled: a late double would show
    seen = constituent(sources, person, 2)
    assert seen["events"] == 2
    assert seen["counts"]["lifetime"]["by_type"] == {"donation.succeeded": 1, "donation.failed": 1}


def test_a_webhook_with_a_bad_signature_gets_401_and_is_kept_as_its_hash_with_its_reason(
    sources: System,
) -> None:
    marker = f"evt_forged_{uuid.uuid4().hex[:8]}"
    forged = stripe_event("payment_intent.succeeded", payment_intent(), marker)
    response = post_stripe(sources, forged, secret="whsec_attacker")
    assert response.status_code == 401
    assert "did not verify" in response.json()["detail"]
    digest = hashlib.sha256(orjson.dumps(forged)).hexdigest()  # what an unknown sender wrote is not kept
    letter = asyncio.run(dead_letter_where(sources, lambda letter: letter.get("payload_sha256") == digest))
    assert (letter["source"], letter["reason_code"], letter["payload"]) == ("stripe", "signature", "")


def test_an_unsigned_sendgrid_post_is_refused_when_a_key_is_configured(sources: System) -> None:
    response = httpx.post(f"{sources.ingest_url}/v1/webhooks/sendgrid", json=[sendgrid_event("open")])
    assert response.status_code == 401
    assert "missing" in response.json()["detail"]


def test_garbage_at_a_webhook_gets_400_not_500(sources: System, keys: dict[str, Any]) -> None:
    assert httpx.post(f"{sources.ingest_url}/v1/webhooks/ses", content=b"<xml/>").status_code == 400
    garbage = httpx.post(
        f"{sources.ingest_url}/v1/collect", content=b'{"type": "scroll"}', headers={"origin": ORIGIN}
    )
    assert garbage.status_code == 400
    assert post_sendgrid(sources, [{"event": "teleported"}], keys["sendgrid"]).status_code == 400


def test_an_oversized_webhook_gets_413(sources: System) -> None:
    marker = f"big-{uuid.uuid4().hex}"
    body = b'{"id": "' + marker.encode() + b'", "padding": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = httpx.post(
        f"{sources.ingest_url}/v1/webhooks/stripe",
        content=body,
        headers={"content-type": "application/json", "Stripe-Signature": "t=1,v1=x"},
    )
    assert response.status_code == 413
    assert "at most" in response.json()["detail"]
    beginning = hashlib.sha256(body[: 64 * 1024]).hexdigest()  # not JSON: kept as its beginning's hash
    letter = asyncio.run(dead_letter_where(sources, lambda letter: letter.get("payload_sha256") == beginning))
    assert (letter["source"], letter["reason_code"], letter["truncated"]) == ("stripe", "too_large", True)
    assert letter["payload_bytes"] == len(body)


PERSON = {"email": "grace.hopper@navy.example", "name": "Grace Brewster Hopper", "phone": "+1 202 555 0147"}
ADDRESS = {"line1": "1 Arlington Ridge Road", "city": "Arlington", "postal_code": "22202", "country": "US"}


def test_no_address_name_or_phone_of_any_refused_payload_reaches_a_topic(
    sources: System, keys: dict[str, Any]
) -> None:
    """Every provider's payloads refused every way: nothing personal on the dead-letter topic (nor, of
    course, on the touchpoints topic); what is there still tells whose it was, by identity key."""
    billing = {"name": PERSON["name"], "phone": PERSON["phone"], "email": PERSON["email"], "address": ADDRESS}
    intent = payment_intent(
        receipt_email=PERSON["email"],
        latest_charge=f"ch_{uuid.uuid4().hex[:8]}",
        charges={"data": [{"billing_details": billing}]},
        shipping={"name": PERSON["name"], "phone": PERSON["phone"], "address": ADDRESS},
    )
    stripe_ok = stripe_event("payment_intent.succeeded", intent, f"evt_{uuid.uuid4().hex[:8]}")
    refusals = [
        post_stripe(sources, stripe_ok, secret="whsec_attacker").status_code,  # bad signature
        post_stripe(sources, {**stripe_ok, "created": "yesterday"}).status_code,  # signed, unusable
        post_sendgrid(sources, [sendgrid_event("teleported", **billing)], keys["sendgrid"]).status_code,
        httpx.post(  # unsigned
            f"{sources.ingest_url}/v1/webhooks/sendgrid", json=[sendgrid_event("open", email=PERSON["email"])]
        ).status_code,
        httpx.post(  # signed by another key
            f"{sources.ingest_url}/v1/webhooks/ses",
            json=sns_message(sns_signer()[0], ses_event("Delivery", [PERSON["email"]])),
        ).status_code,
        httpx.post(  # an SES event type nobody maps
            f"{sources.ingest_url}/v1/webhooks/ses",
            json=sns_message(
                keys["sns"], {**ses_event("Delivery", [PERSON["email"]]), "eventType": "Teleport"}
            ),
        ).status_code,
        httpx.post(
            f"{sources.ingest_url}/v1/collect",
            content=orjson.dumps({"type": "page_view", "anonymous_id": "b-1", **billing}),
            headers={"origin": ORIGIN},
        ).status_code,
        httpx.post(  # a schema error in our own format
            f"{sources.ingest_url}/v1/events",
            json={**touchpoint_with(PERSON), "occurred_at": PERSON["email"]},
        ).status_code,
        httpx.post(f"{sources.ingest_url}/v1/events", content=f"not json {billing}".encode()).status_code,
    ]
    assert all(400 <= status < 500 for status in refusals), refusals
    letters = topic_values(sources, "MP_TOPIC_DEAD_LETTERS")
    touchpoints = topic_values(sources, "MP_TOPIC_TOUCHPOINTS")
    assert len(letters) >= len(refusals)
    everything = b"\n".join(letters + touchpoints).decode()
    for personal in (PERSON["email"], "Grace", "Hopper", "202 555", "5550147", "Arlington", "22202"):
        assert personal.lower() not in everything.lower(), f"{personal!r} is on a topic"
    assert "email:" in everything  # the address became its identity key: whose it was still shows


def touchpoint_with(person: dict[str, str]) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "source": "web",
        "type": "web.page_view",
        "occurred_at": "2026-11-27T10:00:00Z",
        "constituent_id": "c-1",
        "attributes": {"note": f"{person['name']} {person['email']} {person['phone']}"},
    }
