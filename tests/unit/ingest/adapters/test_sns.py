"""SNS message verification: allowed topics only, certificate URLs on SNS hosts only, certificates that
chain to a trusted CA and name sns.amazonaws.com, signatures, time, and each message once."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.ingest.adapters import Unverified, sns
from tests.fixtures.providers import (
    CERT_URL,
    ISSUER_URL,
    SES_TOPIC_ARN,
    ses_event,
    sns_chain,
    sns_message,
    sns_signer,
)

TOPICS = frozenset({SES_TOPIC_ARN})


def pinned(certificate: bytes, seen: list[str] | None = None) -> sns.CertificateCache:
    """Certificates the operator pinned: only their name is checked."""

    async def fetch(url: str) -> bytes:
        (seen if seen is not None else []).append(url)
        return certificate

    return sns.CertificateCache(fetch, trust=None)


def verify(
    message: dict[str, Any], certificates: sns.CertificateCache, topics: frozenset[str] = TOPICS
) -> float:
    return asyncio.run(sns.verify(message, certificates, topics, time.time()))


def test_a_signed_sns_notification_verifies_with_either_signature_version() -> None:
    key, certificate = sns_signer()
    for version in ("1", "2"):
        verify(sns_message(key, ses_event("Delivery"), version=version), pinned(certificate))


def test_tampered_stale_and_wrongly_signed_messages_are_refused() -> None:
    key, certificate = sns_signer()
    tampered = sns_message(key, ses_event("Delivery"))
    tampered["Message"] = tampered["Message"].replace("ada@", "eve@")
    with pytest.raises(Unverified, match="did not verify"):
        verify(tampered, pinned(certificate))
    stale = sns_message(key, ses_event("Delivery"), timestamp=datetime.now(UTC) - timedelta(hours=2))
    with pytest.raises(Unverified, match="not within 3600 s"):
        verify(stale, pinned(certificate))
    other_key, _ = sns_signer()
    with pytest.raises(Unverified, match="did not verify"):
        verify(sns_message(other_key, ses_event("Delivery")), pinned(certificate))


def test_a_message_of_a_topic_not_allowed_is_refused_before_anything_is_fetched() -> None:
    key, certificate = sns_signer()
    seen: list[str] = []
    foreign = sns_message(key, ses_event("Complaint"), TopicArn="arn:aws:sns:us-east-1:666666666666:mine")
    with pytest.raises(Unverified, match="not one this endpoint accepts"):
        verify(foreign, pinned(certificate, seen))
    confirmation = sns_message(
        key, "subscribe?", kind="SubscriptionConfirmation", TopicArn="arn:aws:sns:us-east-1:666666666666:mine"
    )
    with pytest.raises(Unverified, match="not one this endpoint accepts"):
        verify(confirmation, pinned(certificate, seen))
    assert seen == []


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://sns.eu-west-1.amazonaws.com/c.pem", "scheme 'http'"),
        ("https://evil.example/sns.eu-west-1.amazonaws.com.pem", "host 'evil.example'"),
        ("https://sns.eu-west-1.amazonaws.com.evil.example/c.pem", "is not sns.<region>"),
        ("https://sns.s3.amazonaws.com/c.pem", "is not sns.<region>"),  # an S3 bucket's host
        ("https://sns.eu-west-1.amazonaws.com:8443/c.pem", "port 8443"),
        ("https://user:pw@sns.eu-west-1.amazonaws.com/c.pem", "user info"),
        ("https://evil.example@sns.eu-west-1.amazonaws.com/c.pem", "user info"),
        ("https://sns.eu-west-1.amazonaws.com\t.evil.example/c.pem", "control characters"),
        ("https://sns.eu-west-1.amazonaws.com/c.pem\n", "control characters"),
        ("https://sns.eu-west-1.amazonaws.com:99999/c.pem", "Port out of range"),
        (42, "not text"),
    ],
)
def test_only_https_on_port_443_of_an_sns_host_is_an_sns_url(url: Any, why: str) -> None:
    with pytest.raises(Unverified, match=re.escape(why)):
        sns.check_sns_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.us-gov-west-1.amazonaws.com/a.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/a.pem",
        "https://sns.ap-southeast-2.amazonaws.com:443/a.pem",
    ],
)
def test_sns_urls_of_every_partition_are_accepted(url: str) -> None:
    assert sns.check_sns_url(url) == url


def test_signing_certificates_are_fetched_once() -> None:
    key, certificate = sns_signer()
    seen: list[str] = []
    cache = pinned(certificate, seen)
    for _ in range(3):
        verify(sns_message(key, ses_event("Open")), cache)
    assert seen == [CERT_URL]


def test_a_query_or_fragment_on_the_certificate_url_neither_fetches_again_nor_grows_the_cache() -> None:
    """Issue 34: the cache was keyed by the whole URL and never evicted: a sender adding a new #fragment
    (not covered by the signature) to each message grew ingest's memory without end."""
    key, certificate = sns_signer()
    seen: list[str] = []
    cache = pinned(certificate, seen)
    for n in range(200):
        verify(sns_message(key, ses_event("Open"), SigningCertURL=f"{CERT_URL}?n={n}#{n}"), cache)
    assert seen == [CERT_URL] and len(cache._verified) == 1


def chained(chain: dict[str, Any], seen: list[str], serve_issuer: bool = True) -> sns.CertificateCache:
    async def fetch(url: str) -> bytes:
        seen.append(url)
        if url == CERT_URL:
            return bytes(chain["certificate_pem"])
        if url == ISSUER_URL and serve_issuer:
            return bytes(chain["intermediate_der"])
        raise OSError("connection refused")

    return sns.CertificateCache(fetch, sns.trust_store(chain["root_pem"]))


def test_a_fetched_certificate_must_chain_to_a_trusted_ca_through_its_issuers_url() -> None:
    chain = sns_chain()
    seen: list[str] = []
    verify(sns_message(chain["key"], ses_event("Delivery")), chained(chain, seen))
    assert seen == [CERT_URL, ISSUER_URL]


def test_a_certificate_from_another_ca_or_for_another_name_is_refused() -> None:
    stranger = sns_chain()
    other_root = sns_chain()["root_pem"]
    with pytest.raises(Unverified, match="does not chain to a trusted CA"):
        verify(
            sns_message(stranger["key"], ses_event("Delivery")),
            chained({**stranger, "root_pem": other_root}, []),
        )
    misnamed = sns_chain(name="sns.evil.example")
    with pytest.raises(Unverified, match=r"does not name sns\.amazonaws\.com"):
        verify(sns_message(misnamed["key"], ses_event("Delivery")), chained(misnamed, []))
    self_signed_key, self_signed = sns_signer()  # right name, but nobody vouches for it

    async def fetch(url: str) -> bytes:
        return self_signed

    with pytest.raises(Unverified, match="does not chain"):
        verify(
            sns_message(self_signed_key, ses_event("Delivery")),
            sns.CertificateCache(fetch, sns.trust_store(stranger["root_pem"])),
        )


def test_a_failed_fetch_is_a_verification_failure_remembered_for_a_minute() -> None:
    chain = sns_chain()
    seen: list[str] = []
    cache = chained(chain, seen, serve_issuer=False)
    message = sns_message(chain["key"], ses_event("Delivery"))
    with pytest.raises(Unverified, match="could not fetch the issuer's certificate: OSError"):
        verify(message, cache)
    with pytest.raises(Unverified, match="failed within the last minute"):
        verify(message, cache)
    assert seen == [CERT_URL, ISSUER_URL]  # not fetched again


def test_an_oversized_certificate_answer_is_refused() -> None:
    key, _ = sns_signer()

    async def fetch(url: str) -> bytes:
        return b"x" * (sns.MAX_CERTIFICATE_BYTES + 1)

    with pytest.raises(Unverified, match="larger than"):
        verify(sns_message(key, ses_event("Delivery")), sns.CertificateCache(fetch, trust=None))


def test_a_message_is_remembered_for_its_validity_window() -> None:
    replays = sns.ReplayGuard()
    now = time.time()
    assert not replays.seen("m-1", now)
    replays.remember("m-1", sent_at=now)
    assert replays.seen("m-1", now + 60)
    assert not replays.seen("m-1", now + sns.MAX_AGE_SECONDS + 1)  # by then its timestamp is refused anyway


def test_a_body_of_the_wrong_type_is_unverified_and_kept_only_as_its_hash() -> None:
    """Issue 34: a body that was no SNS message at all was refused as "unparseable", which keeps a
    redacted copy — of something nobody verified came from AWS."""
    key, certificate = sns_signer()
    for kind in ("Hello", None, 7):
        with pytest.raises(Unverified, match="not an SNS message"):
            verify({**sns_message(key, ses_event("Open")), "Type": kind}, pinned(certificate))


def test_sha1_signatures_can_be_refused() -> None:
    key, certificate = sns_signer()
    version_1, version_2 = (
        sns_message(key, ses_event("Open")),
        sns_message(key, ses_event("Open"), version="2"),
    )
    refusing = asyncio.run(sns.verify(version_2, pinned(certificate), TOPICS, time.time(), allow_sha1=False))
    assert refusing > 0
    with pytest.raises(Unverified, match="SignatureVersion 1"):
        asyncio.run(sns.verify(version_1, pinned(certificate), TOPICS, time.time(), allow_sha1=False))
    verify(version_1, pinned(certificate))  # accepted by default: a topic's default at AWS
