"""Stripe webhooks → donation touchpoints, verified with Stripe's own library.

Stripe reports one payment through two families (``payment_intent.*`` and ``charge.*``); only
``payment_intent.*`` is mapped (plus refunds, subscriptions, invoices and payment methods), and an
invoice and its payment intent share one event id (the charge's), so nothing counts twice. Amounts are
converted from minor units for two-decimal currencies.

What the recurring-gift recovery loop needs (services/domain/alerts/recovery.py, docs/sources.md):
``invoice.payment_failed`` (with its ``attempt`` count and ``subscription``), ``invoice.paid`` (the
instalment that recovers it), ``customer.subscription.updated`` to past_due/unpaid (``donation.recurring_
past_due``) or canceled, and a new payment method — ``payment_method.attached``, or ``customer.updated``
changing the default — as ``donation.payment_method_updated``.
"""

from __future__ import annotations

from typing import Any

import stripe

from services.ingest.adapters import Mapped, Unusable, Unverified, identifiers, iso, text

TOLERANCE_SECONDS = 300


def verify(payload: bytes, signature_header: str | None, secrets: list[str]) -> None:
    """Accept the payload if its ``Stripe-Signature`` verifies with any configured secret (rotation)."""
    if not signature_header:
        raise Unverified("no Stripe-Signature header")
    if not secrets:
        raise Unverified("no Stripe webhook secret is configured (MP_STRIPE_WEBHOOK_SECRETS)")
    last: Exception | None = None
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(
                payload.decode("utf-8"), signature_header, secret, TOLERANCE_SECONDS
            )
            return
        except (stripe.SignatureVerificationError, UnicodeDecodeError) as error:
            last = error
    raise Unverified(f"Stripe-Signature did not verify: {last}")


def _id(value: Any) -> str | None:
    """Stripe fields may hold an id or the expanded object."""
    if isinstance(value, dict):
        return text(value.get("id"))
    return text(value)


def _amount(minor_units: Any) -> float | None:
    return minor_units / 100 if isinstance(minor_units, int) else None


def map_event(event: Any) -> list[Mapped]:
    """The touchpoints one Stripe event means; [] for event types Mission Pulse does not track."""
    try:
        return _map(event)
    except KeyError as error:  # a field of Stripe's, never the sender's value (docs/privacy.md)
        raise Unusable(f"not a usable Stripe event: no {str(error)[:64]} field") from error
    except (TypeError, AttributeError) as error:
        raise Unusable(
            f"not a usable Stripe event: a field of the wrong kind ({type(error).__name__})"
        ) from error


def _map(event: dict[str, Any]) -> list[Mapped]:
    kind, created, obj = event["type"], event["created"], event["data"]["object"]
    if not isinstance(obj, dict) or not isinstance(created, int):
        raise Unusable("not a Stripe event: data.object or created malformed")
    metadata: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    is_customer = obj.get("object") == "customer"
    who = identifiers(
        constituent=metadata.get("constituent_id"),
        email=obj.get("receipt_email")
        or obj.get("customer_email")
        or (obj.get("billing_details") or {}).get("email")
        or (obj.get("email") if is_customer else None),
        stripe_customer=_id(obj["id"] if is_customer else obj.get("customer")),
    )
    attributes: dict[str, Any] = {"processor": "stripe"}
    currency = text(obj.get("currency"))
    if currency:
        attributes["currency"] = currency.upper()

    def touchpoint(event_type: str, event_id: str, correlation_id: str | None, **extra: Any) -> list[Mapped]:
        body = {
            "event_id": event_id,
            "source": "donation",
            "type": event_type,
            "occurred_at": iso(created),
            "department": "fundraising",
            "attributes": {**attributes, **{k: v for k, v in extra.items() if v is not None}},
        }
        if correlation_id:
            body["correlation_id"] = correlation_id
        return [Mapped(event=body, identifiers=who)]

    if kind == "payment_intent.succeeded":
        charge = _id(obj.get("latest_charge")) or obj["id"]
        return touchpoint(
            "donation.succeeded",
            f"stripe:{charge}:succeeded",
            _id(obj),
            amount=_amount(obj.get("amount_received", obj.get("amount"))),
            recurring=bool(obj.get("invoice")),
        )
    if kind == "payment_intent.payment_failed":
        error = obj.get("last_payment_error") or {}
        charge = _id(error.get("charge")) or _id(obj.get("latest_charge")) or obj["id"]
        return touchpoint(
            "donation.failed",
            f"stripe:{charge}:failed",
            _id(obj),
            amount=_amount(obj.get("amount")),
            recurring=bool(obj.get("invoice")),
            error_code=error.get("decline_code") or error.get("code"),
        )
    if kind == "invoice.payment_failed":
        charge = _id(obj.get("charge")) or _id(obj.get("payment_intent")) or obj["id"]
        next_attempt = obj.get("next_payment_attempt")
        return touchpoint(
            "donation.failed",
            f"stripe:{charge}:failed",
            _id(obj.get("payment_intent")),
            amount=_amount(obj.get("amount_due")),
            recurring=True,
            attempt=obj.get("attempt_count") if isinstance(obj.get("attempt_count"), int) else None,
            subscription=_id(obj.get("subscription")),
            next_attempt_at=iso(next_attempt) if isinstance(next_attempt, int) else None,
        )
    if kind == "invoice.paid":
        if not _amount(obj.get("amount_paid")):
            return []  # a zero invoice (a trial, a credit): no gift
        charge = _id(obj.get("charge")) or _id(obj.get("payment_intent")) or obj["id"]
        return touchpoint(
            "donation.succeeded",
            f"stripe:{charge}:succeeded",  # the same id as its payment intent's: counted once
            _id(obj.get("payment_intent")),
            amount=_amount(obj.get("amount_paid")),
            recurring=True,
            subscription=_id(obj.get("subscription")),
        )
    if kind in ("customer.subscription.updated", "customer.subscription.deleted"):
        status = obj.get("status")
        if kind == "customer.subscription.deleted" or status == "canceled":  # one id for both: counted once
            return touchpoint(
                "donation.recurring_cancelled",
                f"stripe:{obj['id']}:cancelled",
                _id(obj),
                recurring=True,
                subscription=obj["id"],
            )
        if status in ("past_due", "unpaid"):
            event_id = f"stripe:{obj['id']}:{status}:{event['id']}"
            return touchpoint(
                "donation.recurring_past_due", event_id, _id(obj), status=status, subscription=obj["id"]
            )
        return []
    if kind == "payment_method.attached":
        return touchpoint(
            "donation.payment_method_updated", f"stripe:{obj['id']}:attached", None, how="attached"
        )
    if kind == "customer.updated":
        before = event["data"].get("previous_attributes") or {}
        settings_before = before.get("invoice_settings") if isinstance(before, dict) else None
        if not isinstance(settings_before, dict) or "default_payment_method" not in settings_before:
            return []  # another change of the customer: nothing for Mission Pulse
        return touchpoint(
            "donation.payment_method_updated", f"stripe:{event['id']}", None, how="default_changed"
        )
    if kind == "charge.refunded":
        return touchpoint(
            "donation.refunded",
            f"stripe:{obj['id']}:refunded",
            _id(obj.get("payment_intent")),
            amount=_amount(obj.get("amount_refunded")),
        )
    return []
