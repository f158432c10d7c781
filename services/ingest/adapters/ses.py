"""Amazon SES notifications through SNS → email touchpoints, with SNS message signatures verified.

SNS signs each message (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) with a certificate it serves
at ``SigningCertURL``; only HTTPS URLs on the SNS host pattern are fetched, and certificates are cached.
One SES notification may name several recipients: each becomes its own touchpoint.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from services.ingest.adapters import Mapped, Unusable, Unverified, identifiers, text

SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
MAX_AGE_SECONDS = 3600  # SNS retries an HTTP delivery for minutes, not hours
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
TYPES = {
    "Send": "email.sent",
    "Delivery": "email.delivered",
    "Bounce": "email.bounced",
    "Reject": "email.bounced",
    "Complaint": "email.complained",
    "Open": "email.opened",
    "Click": "email.clicked",
}
IGNORED = frozenset({"DeliveryDelay", "Rendering Failure", "Subscription"})
Fetch = Callable[[str], Awaitable[bytes]]


def check_sns_url(url: str) -> str:
    """Refuse any URL but HTTPS on an SNS host (certificates and subscription confirmations)."""
    parsed = urlparse(url)
    if parsed.scheme != "https" or not SNS_HOST.match(parsed.hostname or ""):
        raise Unverified(f"not an SNS URL: {url[:200]!r}")
    return url


class CertificateCache:
    """SNS signing certificates by URL, fetched once."""

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch
        self._certificates: dict[str, x509.Certificate] = {}

    async def get(self, url: str) -> x509.Certificate:
        if url not in self._certificates:
            if not url.endswith(".pem"):
                raise Unverified(f"SigningCertURL is not a .pem certificate: {url[:200]!r}")
            try:
                self._certificates[check_sns_url(url)] = x509.load_pem_x509_certificate(
                    await self._fetch(url)
                )
            except ValueError as error:
                raise Unverified(f"could not load the signing certificate: {error}") from error
        return self._certificates[url]


def string_to_sign(message: dict[str, Any]) -> bytes:
    fields = SIGNED_FIELDS[message["Type"]]
    return "".join(f"{name}\n{message[name]}\n" for name in fields if name in message).encode()


async def verify(message: Any, certificates: CertificateCache, now: float) -> None:
    if (
        not isinstance(message, dict)
        or not isinstance(message.get("Type"), str)
        or message["Type"] not in SIGNED_FIELDS
    ):
        raise Unusable("not an SNS message (Type must be Notification or (Un)SubscriptionConfirmation)")
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise Unverified("SignatureVersion must be 1 or 2")
    try:
        sent = datetime.fromisoformat(message["Timestamp"]).timestamp()
        signature = base64.b64decode(message["Signature"], validate=True)
        url = message["SigningCertURL"]
        signed = string_to_sign(message)
    except (KeyError, ValueError, TypeError, binascii.Error) as error:
        raise Unverified(f"SNS message lacks a readable signature field: {error}") from error
    if now - sent > MAX_AGE_SECONDS:
        raise Unverified(f"SNS message is older than {MAX_AGE_SECONDS} s (Timestamp {message['Timestamp']})")
    key = (await certificates.get(url)).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Unverified("the SNS signing certificate does not hold an RSA key")
    try:
        key.verify(signature, signed, padding.PKCS1v15(), algorithm)
    except InvalidSignature as error:
        raise Unverified("the SNS signature did not verify") from error


def map_notification(message: dict[str, Any]) -> list[Mapped]:
    """Touchpoints for an SNS Notification carrying an SES event (one per recipient)."""
    try:
        return _map(orjson.loads(message["Message"]))
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as error:
        raise Unusable(f"not a usable SES notification: {type(error).__name__} {error}") from error


def _map(ses: dict[str, Any]) -> list[Mapped]:
    kind = ses.get("eventType") or ses["notificationType"]
    if kind in IGNORED:
        return []
    if kind not in TYPES:
        raise ValueError(f"unknown SES event {kind!r}")
    mail = ses["mail"]
    detail = ses.get(kind[0].lower() + kind[1:], {})
    if kind == "Bounce":
        recipients = [r["emailAddress"] for r in detail["bouncedRecipients"]]
    elif kind == "Complaint":
        recipients = [r["emailAddress"] for r in detail["complainedRecipients"]]
    elif kind == "Delivery":
        recipients = list(detail["recipients"])
    else:
        recipients = list(mail["destination"])
    tags = mail.get("tags") or {}

    def tag(name: str) -> str | None:
        values = tags.get(name)
        return text(values[0]) if isinstance(values, list) and values else None

    attributes: dict[str, Any] = {"provider": "ses"}
    for name, value in (
        ("template", tag("template")),
        ("url", detail.get("link")),
        ("reason", detail.get("bounceType") or detail.get("reason")),
    ):
        if text(value):
            attributes[name] = value
    occurred_at = datetime.fromisoformat(detail.get("timestamp") or mail["timestamp"]).isoformat()
    mapped = []
    for index, recipient in enumerate(recipients):
        body: dict[str, Any] = {
            "event_id": f"ses:{mail['messageId']}:{kind}:{index}",
            "source": "email",
            "type": TYPES[kind],
            "occurred_at": occurred_at,
            "department": "marketing",
            "attributes": attributes,
        }
        if tag("correlation_id"):
            body["correlation_id"] = tag("correlation_id")
        mapped.append(
            Mapped(event=body, identifiers=identifiers(constituent=tag("constituent_id"), email=recipient))
        )
    return mapped
