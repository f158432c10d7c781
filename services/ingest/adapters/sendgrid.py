"""SendGrid Event Webhook → email touchpoints, verified by its ECDSA signature.

SendGrid posts a JSON array of events. Custom arguments set when sending (``template``,
``correlation_id``, ``constituent_id``) arrive as top-level fields and are used when present; otherwise
the first category names the template. ``deferred`` (a temporary delay) is not a touchpoint.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.ingest.adapters import Mapped, Unusable, Unverified, identifiers, iso, text

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
TOLERANCE_SECONDS = 300
TYPES = {
    "processed": "email.sent",
    "delivered": "email.delivered",
    "bounce": "email.bounced",
    "dropped": "email.bounced",
    "open": "email.opened",
    "click": "email.clicked",
    "spamreport": "email.complained",
    "unsubscribe": "email.unsubscribed",
    "group_unsubscribe": "email.unsubscribed",
}
IGNORED = frozenset({"deferred"})


def load_public_key(base64_der: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 of the DER public key)."""
    key = serialization.load_der_public_key(base64.b64decode(base64_der))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the SendGrid verification key is not an elliptic-curve public key")
    return key


def verify(
    payload: bytes, signature: str | None, timestamp: str | None, key: ec.EllipticCurvePublicKey, now: float
) -> None:
    if not signature or not timestamp:
        raise Unverified(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}")
    # ASCII digits only: str.isdigit() also takes "²", which int() then refuses
    if not re.fullmatch(r"[0-9]{1,12}", timestamp) or abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise Unverified(f"{TIMESTAMP_HEADER} is not within {TOLERANCE_SECONDS} s of now")
    try:
        key.verify(base64.b64decode(signature), timestamp.encode() + payload, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError) as error:
        raise Unverified("the SendGrid signature did not verify") from error


def map_events(events: Any, now: float | None = None) -> list[Mapped]:
    """Touchpoints for every tracked event in a SendGrid delivery (a JSON array)."""
    if not isinstance(events, list):
        raise Unusable("a SendGrid delivery is a JSON array of events")
    mapped = []
    for index, event in enumerate(events):
        try:
            one = _map(event)
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise Unusable(
                f"event {index}: not a usable SendGrid event: {type(error).__name__} {error}"
            ) from error
        if one is not None:
            mapped.append(one)
    return mapped


def _map(event: dict[str, Any]) -> Mapped | None:
    kind = event["event"]
    if kind in IGNORED:
        return None
    if kind not in TYPES:
        raise ValueError(f"unknown event {kind!r}")
    categories = event.get("category")
    category = categories[0] if isinstance(categories, list) and categories else text(categories)
    attributes: dict[str, Any] = {"provider": "sendgrid"}
    template = text(event.get("template")) or category
    if template:
        attributes["template"] = template
    for name in ("reason", "url", "type"):
        if text(event.get(name)):
            attributes["reason" if name == "type" else name] = event[name]
    body: dict[str, Any] = {
        "event_id": f"sendgrid:{event['sg_event_id']}",
        "source": "email",
        "type": TYPES[kind],
        "occurred_at": iso(float(event.get("timestamp", time.time()))),
        "department": "marketing",
        "attributes": attributes,
    }
    if text(event.get("correlation_id")):
        body["correlation_id"] = event["correlation_id"]
    who = identifiers(constituent=event.get("constituent_id"), email=event.get("email"))
    return Mapped(event=body, identifiers=who)
