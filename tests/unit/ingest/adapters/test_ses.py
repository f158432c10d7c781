"""Amazon SES through SNS: message signatures, certificates and the mapping of notifications."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from services.domain.events import validation_error
from services.ingest.adapters import Unverified, ses
from tests.fixtures.providers import (
    CERT_URL,
    complete,
    ses_event,
    sns_message,
    sns_signer,
)


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
