"""Realistic provider payloads, written from the providers' documented formats, and signing helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from services.ingest.adapters.ses import string_to_sign

NOW = 1_795_000_000


# --- Stripe -----------------------------------------------------------------------------------------


def stripe_event(kind: str, obj: dict[str, Any], event_id: str = "evt_1") -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": NOW,
        "livemode": False,
        "type": kind,
        "data": {"object": obj},
    }


def payment_intent(status: str = "succeeded", **extra: Any) -> dict[str, Any]:
    return {
        "id": "pi_3PqX",
        "object": "payment_intent",
        "amount": 5000,
        "amount_received": 5000,
        "currency": "usd",
        "customer": "cus_Q1",
        "receipt_email": "Ada@Example.org",
        "latest_charge": "ch_9",
        "invoice": None,
        "metadata": {},
        "status": status,
        **extra,
    }


def stripe_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# --- SendGrid ---------------------------------------------------------------------------------------


def sendgrid_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(der).decode()


def sendgrid_signature(private: ec.EllipticCurvePrivateKey, payload: bytes, timestamp: str) -> str:
    return base64.b64encode(private.sign(timestamp.encode() + payload, ec.ECDSA(hashes.SHA256()))).decode()


def sendgrid_event(kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "email": "ada@example.org",
        "timestamp": NOW,
        "event": kind,
        "sg_event_id": f"sg-{kind}-1",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "category": ["receipt"],
        **extra,
    }


# --- SES through SNS --------------------------------------------------------------------------------

CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"


def sns_signer() -> tuple[rsa.RSAPrivateKey, bytes]:
    """A key and a self-signed certificate standing in for SNS's (tests never touch the network)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)


def sns_message(
    key: rsa.RSAPrivateKey,
    message: dict[str, Any] | str,
    kind: str = "Notification",
    timestamp: datetime | None = None,
    version: str = "1",
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Type": kind,
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-events",
        "Message": message if isinstance(message, str) else orjson.dumps(message).decode(),
        "Timestamp": (timestamp or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "SignatureVersion": version,
        "SigningCertURL": CERT_URL,
        **extra,
    }
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    body["Signature"] = base64.b64encode(
        key.sign(string_to_sign(body), padding.PKCS1v15(), algorithm)
    ).decode()
    return body


def ses_event(kind: str, recipients: list[str] | None = None) -> dict[str, Any]:
    recipients = recipients or ["ada@example.org"]
    mail = {
        "timestamp": "2026-11-18T10:00:00.000Z",
        "messageId": "0102017a-ses-1",
        "source": "giving@org.example",
        "destination": recipients,
        "tags": {"template": ["receipt"], "correlation_id": ["pi_3PqX"]},
    }
    detail: dict[str, Any] = {"timestamp": "2026-11-18T10:00:05.000Z"}
    if kind == "Bounce":
        detail |= {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": r} for r in recipients]}
    elif kind == "Complaint":
        detail |= {"complainedRecipients": [{"emailAddress": r} for r in recipients]}
    elif kind == "Delivery":
        detail |= {"recipients": recipients}
    elif kind == "Click":
        detail |= {"link": "https://org.example/thanks"}
    return {"eventType": kind, "mail": mail, kind[0].lower() + kind[1:]: detail}
