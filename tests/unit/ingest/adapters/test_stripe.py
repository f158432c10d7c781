"""Stripe: signatures (with rotation) and the mapping of its events, from its documented payloads."""

from __future__ import annotations

import time

import orjson
import pytest

from services.domain.events import validation_error
from services.ingest.adapters import Unverified, stripe
from tests.fixtures.providers import (
    complete,
    payment_intent,
    stripe_event,
    stripe_signature,
)

SECRET, ROTATED = "whsec_current", "whsec_previous"


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


def invoice(**extra: object) -> dict[str, object]:
    return {
        "id": "in_1",
        "object": "invoice",
        "customer": "cus_Q1",
        "customer_email": "ada@example.org",
        "currency": "usd",
        "charge": "ch_7",
        "payment_intent": "pi_7",
        "subscription": "sub_9",
        "amount_due": 2500,
        "amount_paid": 2500,
        "attempt_count": 2,
        "next_payment_attempt": 1_795_100_000,
        "metadata": {},
        **extra,
    }


def test_what_the_recovery_loop_needs_is_mapped_from_stripes_documented_events() -> None:
    [failed] = stripe.map_event(stripe_event("invoice.payment_failed", invoice()))
    assert failed.event["type"] == "donation.failed"
    assert {k: failed.event["attributes"][k] for k in ("attempt", "subscription", "recurring")} == {
        "attempt": 2,
        "subscription": "sub_9",
        "recurring": True,
    }
    [paid] = stripe.map_event(stripe_event("invoice.paid", invoice(), "evt_2"))
    [intent] = stripe.map_event(
        stripe_event("payment_intent.succeeded", payment_intent(latest_charge="ch_7"))
    )
    assert (paid.event["type"], paid.event["attributes"]["amount"]) == ("donation.succeeded", 25.0)
    assert paid.event["event_id"] == intent.event["event_id"]  # one payment, counted once
    assert stripe.map_event(stripe_event("invoice.paid", invoice(amount_paid=0))) == []

    subscription = {"id": "sub_9", "object": "subscription", "customer": "cus_Q1", "metadata": {}}
    [past_due] = stripe.map_event(
        stripe_event("customer.subscription.updated", {**subscription, "status": "past_due"})
    )
    [cancelled] = stripe.map_event(
        stripe_event("customer.subscription.updated", {**subscription, "status": "canceled"})
    )
    [deleted] = stripe.map_event(
        stripe_event("customer.subscription.deleted", {**subscription, "status": "canceled"})
    )
    assert past_due.event["type"] == "donation.recurring_past_due"
    assert cancelled.event["event_id"] == deleted.event["event_id"]
    assert (
        stripe.map_event(stripe_event("customer.subscription.updated", {**subscription, "status": "active"}))
        == []
    )

    card = {"id": "pm_1", "object": "payment_method", "customer": "cus_Q1", "metadata": {}}
    [attached] = stripe.map_event(stripe_event("payment_method.attached", card))
    customer = {"id": "cus_Q1", "object": "customer", "email": "ada@example.org", "metadata": {}}
    changed = stripe_event("customer.updated", customer, "evt_5")
    changed["data"]["previous_attributes"] = {"invoice_settings": {"default_payment_method": "pm_0"}}
    [default] = stripe.map_event(changed)
    assert attached.event["type"] == default.event["type"] == "donation.payment_method_updated"
    assert default.identifiers == {"email": "ada@example.org", "stripe_customer": "cus_Q1"}
    renamed = stripe_event("customer.updated", customer, "evt_6")
    renamed["data"]["previous_attributes"] = {"name": "Ada L."}
    assert stripe.map_event(renamed) == []
    for mapped in (failed, paid, past_due, cancelled, attached, default):
        assert validation_error(complete(mapped.event)) is None
