"""Each provider adapter: verification and mapping, from the providers' documented payloads."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import suppress
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.events import validation_error
from services.ingest.adapters import Unusable, Unverified, beacon, sendgrid, ses, stripe
from tests.unit.providers.samples import (
    CERT_URL,
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

SECRET, ROTATED = "whsec_current", "whsec_previous"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def complete(mapped_event: dict[str, object]) -> dict[str, object]:
    return {**mapped_event, "constituent_id": "c-1"}


# --- Stripe ---------------------------------------------------------------------------------------


def test_a_signed_stripe_event_verifies_with_either_secret_during_rotation() -> None:
    payload = orjson.dumps(stripe_event("payment_intent.succeeded", payment_intent()))
    stripe.verify(payload, stripe_signature(payload, SECRET), [ROTATED, SECRET])
    stripe.verify(payload, stripe_signature(payload, ROTATED), [ROTATED, SECRET])


def test_a_stripe_header_with_several_v1_signatures_verifies_if_any_matches() -> None:
    payload = orjson.dumps(stripe_event("payment_intent.succeeded", payment_intent()))
    good = stripe_signature(payload, SECRET)
    timestamp, signature = good.split(",")
    stripe.verify(payload, f"{timestamp},v1={'0' * 64},{signature},v0=legacy", [SECRET])


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "no Stripe-Signature header"),
        ("t=1,v1=deadbeef", "did not verify"),
    ],
)
def test_a_missing_or_bad_stripe_signature_is_refused(header: str | None, message: str) -> None:
    with pytest.raises(Unverified, match=message):
        stripe.verify(b"{}", header, [SECRET])


def test_tampered_stale_and_wrongly_signed_stripe_events_are_refused() -> None:
    payload = orjson.dumps(stripe_event("payment_intent.succeeded", payment_intent()))
    with pytest.raises(Unverified):
        stripe.verify(payload.replace(b"5000", b"9000"), stripe_signature(payload, SECRET), [SECRET])
    with pytest.raises(Unverified):
        stripe.verify(payload, stripe_signature(payload, SECRET, int(time.time()) - 600), [SECRET])
    with pytest.raises(Unverified):
        stripe.verify(payload, stripe_signature(payload, "whsec_other"), [SECRET])


def test_a_successful_payment_intent_is_a_donation_of_its_customer() -> None:
    [mapped] = stripe.map_event(stripe_event("payment_intent.succeeded", payment_intent()))
    assert mapped.event["type"] == "donation.succeeded"
    assert mapped.event["event_id"] == "stripe:ch_9:succeeded"
    assert mapped.event["correlation_id"] == "pi_3PqX"
    assert mapped.event["attributes"] == {
        "processor": "stripe",
        "currency": "USD",
        "amount": 50.0,
        "recurring": False,
    }
    assert mapped.identifiers == {"email": "Ada@Example.org", "stripe_customer": "cus_Q1"}
    assert validation_error(complete(mapped.event)) is None


def test_a_failed_invoice_and_its_payment_intent_count_as_one_failure() -> None:
    failed_intent = payment_intent(
        "requires_payment_method",
        invoice="in_1",
        last_payment_error={"charge": "ch_7", "decline_code": "insufficient_funds"},
    )
    invoice = {
        "id": "in_1",
        "object": "invoice",
        "charge": "ch_7",
        "payment_intent": "pi_3PqX",
        "amount_due": 2500,
        "currency": "usd",
        "customer": "cus_Q1",
        "customer_email": "ada@example.org",
    }
    [by_intent] = stripe.map_event(stripe_event("payment_intent.payment_failed", failed_intent))
    [by_invoice] = stripe.map_event(stripe_event("invoice.payment_failed", invoice, "evt_2"))
    assert by_intent.event["event_id"] == by_invoice.event["event_id"] == "stripe:ch_7:failed"
    assert by_intent.event["attributes"]["error_code"] == "insufficient_funds"  # type: ignore[index]
    assert by_invoice.event["attributes"]["recurring"] is True  # type: ignore[index]


def test_refunds_and_cancelled_subscriptions_are_mapped_and_the_charge_family_is_not() -> None:
    charge = {
        "id": "ch_9",
        "object": "charge",
        "amount_refunded": 5000,
        "currency": "usd",
        "customer": "cus_Q1",
        "payment_intent": "pi_3PqX",
        "billing_details": {"email": "ada@example.org"},
    }
    [refund] = stripe.map_event(stripe_event("charge.refunded", charge))
    assert refund.event["type"] == "donation.refunded"
    subscription = {"id": "sub_1", "object": "subscription", "customer": "cus_Q1", "currency": "usd"}
    [cancelled] = stripe.map_event(stripe_event("customer.subscription.deleted", subscription))
    assert cancelled.event["type"] == "donation.recurring_cancelled"
    assert stripe.map_event(stripe_event("charge.succeeded", charge)) == []
    assert stripe.map_event(stripe_event("charge.failed", charge)) == []


def test_a_constituent_id_in_stripe_metadata_names_the_constituent() -> None:
    [mapped] = stripe.map_event(
        stripe_event("payment_intent.succeeded", payment_intent(metadata={"constituent_id": "c-42"}))
    )
    assert mapped.identifiers["constituent"] == "c-42"


# --- SendGrid -------------------------------------------------------------------------------------


def test_a_signed_sendgrid_delivery_verifies_and_tampering_or_staleness_does_not() -> None:
    private, public = sendgrid_key()
    key = sendgrid.load_public_key(public)
    payload = orjson.dumps([sendgrid_event("delivered")])
    now = time.time()
    stamp = str(int(now))
    sendgrid.verify(payload, sendgrid_signature(private, payload, stamp), stamp, key, now)
    with pytest.raises(Unverified):
        sendgrid.verify(payload + b" ", sendgrid_signature(private, payload, stamp), stamp, key, now)
    with pytest.raises(Unverified, match="within"):
        old = str(int(now) - 3600)
        sendgrid.verify(payload, sendgrid_signature(private, payload, old), old, key, now)
    other_private, _ = sendgrid_key()
    with pytest.raises(Unverified):
        sendgrid.verify(payload, sendgrid_signature(other_private, payload, stamp), stamp, key, now)
    with pytest.raises(Unverified, match="missing"):
        sendgrid.verify(payload, None, stamp, key, now)


def test_sendgrid_events_map_to_email_touchpoints_and_deferrals_are_skipped() -> None:
    kinds = [
        "processed",
        "deferred",
        "delivered",
        "bounce",
        "dropped",
        "open",
        "click",
        "spamreport",
        "unsubscribe",
        "group_unsubscribe",
    ]
    mapped = sendgrid.map_events([sendgrid_event(kind, sg_event_id=f"sg-{kind}") for kind in kinds])
    assert [m.event["type"] for m in mapped] == [
        "email.sent",
        "email.delivered",
        "email.bounced",
        "email.bounced",
        "email.opened",
        "email.clicked",
        "email.complained",
        "email.unsubscribed",
        "email.unsubscribed",
    ]
    assert mapped[0].event["event_id"] == "sendgrid:sg-processed"
    assert mapped[0].event["attributes"]["template"] == "receipt"  # type: ignore[index]
    assert mapped[0].identifiers == {"email": "ada@example.org"}
    assert all(validation_error(complete(m.event)) is None for m in mapped)


def test_sendgrid_custom_arguments_carry_template_and_correlation() -> None:
    [mapped] = sendgrid.map_events(
        [sendgrid_event("processed", template="volunteer_welcome", correlation_id="form-77")]
    )
    assert mapped.event["attributes"]["template"] == "volunteer_welcome"  # type: ignore[index]
    assert mapped.event["correlation_id"] == "form-77"


@pytest.mark.parametrize(
    "payload", [{"event": "delivered"}, [{"event": "teleported", "sg_event_id": "x"}], [7]]
)
def test_unusable_sendgrid_deliveries_say_why(payload: object) -> None:
    with pytest.raises(Unusable):
        sendgrid.map_events(payload)


# --- SES through SNS ------------------------------------------------------------------------------


def verify_sns(message: dict[str, object], certificate: bytes, url_seen: list[str] | None = None) -> None:
    async def fetch(url: str) -> bytes:
        (url_seen if url_seen is not None else []).append(url)
        return certificate

    asyncio.run(ses.verify(message, ses.CertificateCache(fetch), time.time()))


def test_a_signed_sns_notification_verifies_with_either_signature_version() -> None:
    key, certificate = sns_signer()
    for version in ("1", "2"):
        verify_sns(sns_message(key, ses_event("Delivery"), version=version), certificate)


def test_tampered_stale_and_foreign_sns_messages_are_refused() -> None:
    key, certificate = sns_signer()
    tampered = sns_message(key, ses_event("Delivery"))
    tampered["Message"] = tampered["Message"].replace("ada@", "eve@")
    with pytest.raises(Unverified, match="did not verify"):
        verify_sns(tampered, certificate)
    stale = sns_message(key, ses_event("Delivery"), timestamp=datetime.now(UTC) - timedelta(hours=2))
    with pytest.raises(Unverified, match="older"):
        verify_sns(stale, certificate)
    other_key, _ = sns_signer()
    with pytest.raises(Unverified):
        verify_sns(sns_message(other_key, ses_event("Delivery")), certificate)
    for url in (
        "http://sns.eu-west-1.amazonaws.com/c.pem",
        "https://evil.example/sns.eu-west-1.amazonaws.com.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.example/c.pem",
    ):
        with pytest.raises(Unverified):
            verify_sns(sns_message(key, ses_event("Delivery"), SigningCertURL=url), certificate)


def test_signing_certificates_are_fetched_once() -> None:
    key, certificate = sns_signer()
    seen: list[str] = []

    async def fetch(url: str) -> bytes:
        seen.append(url)
        return certificate

    cache = ses.CertificateCache(fetch)
    for _ in range(3):
        asyncio.run(ses.verify(sns_message(key, ses_event("Open")), cache, time.time()))
    assert seen == [CERT_URL]


def test_a_notification_naming_several_recipients_is_one_touchpoint_each() -> None:
    key, _ = sns_signer()
    message = sns_message(key, ses_event("Bounce", ["ada@example.org", "bob@example.org"]))
    mapped = ses.map_notification(message)
    assert [m.identifiers["email"] for m in mapped] == ["ada@example.org", "bob@example.org"]
    assert {m.event["type"] for m in mapped} == {"email.bounced"}
    assert mapped[0].event["event_id"] != mapped[1].event["event_id"]
    assert mapped[0].event["correlation_id"] == "pi_3PqX"
    assert all(validation_error(complete(m.event)) is None for m in mapped)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("Send", "email.sent"),
        ("Delivery", "email.delivered"),
        ("Complaint", "email.complained"),
        ("Reject", "email.bounced"),
        ("Open", "email.opened"),
        ("Click", "email.clicked"),
    ],
)
def test_ses_event_types_map_to_the_vocabulary(kind: str, expected: str) -> None:
    key, _ = sns_signer()
    [mapped] = ses.map_notification(sns_message(key, ses_event(kind)))
    assert mapped.event["type"] == expected


def test_ses_delivery_delays_are_not_touchpoints() -> None:
    key, _ = sns_signer()
    assert ses.map_notification(sns_message(key, ses_event("DeliveryDelay"))) == []


# --- the web beacon -------------------------------------------------------------------------------


def test_a_beacon_becomes_a_web_touchpoint_of_its_user() -> None:
    mapped = beacon.map_beacon(
        {
            "type": "form_submitted",
            "user_id": "u-1",
            "form": "volunteer_signup",
            "url": "https://org.example/volunteer",
            "event_id": "b-1",
        },
        now=1_795_000_000,
    )
    assert mapped.event["type"] == "web.form_submitted"
    assert mapped.event["event_id"] == "web:b-1"
    assert mapped.identifiers == {"web_user": "u-1"}
    assert validation_error(complete(mapped.event)) is None


@pytest.mark.parametrize(
    "payload",
    [
        [1],
        {"type": "scroll", "user_id": "u"},
        {"type": "page_view"},
        {"type": "page_view", "user_id": "u", "occurred_at": "yesterday"},
    ],
)
def test_unusable_beacons_say_why(payload: object) -> None:
    with pytest.raises(Unusable):
        beacon.map_beacon(payload, now=0)


# --- fuzzing: garbage never escapes as anything but Unusable / Unverified --------------------------


@settings(max_examples=300)
@given(json_values)
def test_no_payload_makes_an_adapter_fail_other_than_saying_why(payload: object) -> None:
    adapters = (
        stripe.map_event,
        sendgrid.map_events,
        lambda p: [beacon.map_beacon(p, now=0)],
        lambda p: ses.map_notification({"Message": json.dumps(p)}),
    )
    for adapter in adapters:
        with suppress(Unusable, Unverified):
            assert all(isinstance(mapped.event, dict) for mapped in adapter(payload))


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "Type",
                "SignatureVersion",
                "Timestamp",
                "Signature",
                "SigningCertURL",
                "Message",
                "MessageId",
                "TopicArn",
            ]
        ),
        json_values,
    )
)
def test_no_sns_envelope_makes_verification_fail_other_than_saying_why(message: dict[str, object]) -> None:
    async def fetch(url: str) -> bytes:
        return b"not a certificate"

    with pytest.raises((Unusable, Unverified)):
        asyncio.run(ses.verify(message, ses.CertificateCache(fetch), time.time()))


def test_an_sns_subscription_is_confirmed_by_visiting_its_url_once_verified(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fastapi.testclient import TestClient

    from services.ingest.app import create_app
    from services.ingest.settings import IngestSettings

    key, certificate = sns_signer()
    visited: list[str] = []

    async def fetch(url: str) -> bytes:
        visited.append(url)
        return certificate if url.endswith(".pem") else b"<ConfirmSubscriptionResponse/>"

    subscribe_url = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=2336412f37"
    confirmation = sns_message(
        key,
        "You have chosen to subscribe…",
        kind="SubscriptionConfirmation",
        SubscribeURL=subscribe_url,
        Token="2336412f37",
    )
    app = create_app(IngestSettings(identity_secret="test"), fetch_certificate=fetch)  # no lifespan: no Kafka
    answer = TestClient(app).post("/v1/webhooks/ses", json=confirmation)
    assert answer.json() == {"subscribed": True}
    assert visited == [CERT_URL, subscribe_url]
    forged = {**confirmation, "SubscribeURL": "https://evil.example/?Action=ConfirmSubscription"}
    assert TestClient(app).post("/v1/webhooks/ses", json=forged).status_code == 401
