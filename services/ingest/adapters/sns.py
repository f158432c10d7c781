"""Amazon SNS message verification: which topics, which certificate URLs, which certificates, which replays.

SNS signs each message (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) with a certificate it serves at
``SigningCertURL``. Anyone can create an SNS topic and have AWS sign messages for it, so a valid signature
alone proves nothing: the message's ``TopicArn`` must be one the operator allowed (MP_SES_TOPIC_ARNS),
checked before anything is fetched or confirmed. The certificate URL must be HTTPS on port 443 of
``sns.<region>.amazonaws.com`` (or ``.com.cn``) with no user info, and the certificate must chain to a
trusted CA and name ``sns.amazonaws.com``. A message is accepted once: its ``MessageId`` is remembered
for as long as its timestamp is valid, so a replay counts nothing. See docs/security.md.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from services.ingest.adapters import Unverified

REGION = r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}"
SNS_HOST = re.compile(rf"^sns\.{REGION}\.amazonaws\.com(?:\.cn)?$")
ISSUER_HOST = re.compile(r"^[a-z0-9.-]+\.amazontrust\.com$")  # where SNS's CAs publish their certificates
SIGNING_NAME = "sns.amazonaws.com"
MAX_AGE_SECONDS = 3600  # SNS retries an HTTP delivery for minutes, not hours
MAX_CERTIFICATE_BYTES = 64 * 1024
FAILURE_REMEMBERED_S = 60.0  # a URL that failed is not fetched again for this long
REMEMBERED_MESSAGES = 200_000
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": CONFIRMATION_FIELDS,
    "UnsubscribeConfirmation": CONFIRMATION_FIELDS,
}
Fetch = Callable[[str], Awaitable[bytes]]


def check_sns_url(url: Any) -> str:
    """The URL if it is HTTPS on port 443 of an SNS host with no user info; Unverified naming why not."""
    if not isinstance(url, str) or re.search(r"[\x00-\x20\x7f]", url):
        raise Unverified("not an SNS URL: not text, or with spaces or control characters in it")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as error:
        raise Unverified(f"not an SNS URL: {error}") from None
    if parts.scheme != "https":
        raise Unverified(f"not an SNS URL: scheme {parts.scheme!r}, not https")
    if "@" in parts.netloc:
        raise Unverified("not an SNS URL: it carries user info")
    if port not in (None, 443):
        raise Unverified(f"not an SNS URL: port {port}, not 443")
    if not SNS_HOST.match(parts.hostname or ""):
        raise Unverified(f"not an SNS URL: host {parts.hostname!r} is not sns.<region>.amazonaws.com")
    return url


def check_topic(message: dict[str, Any], allowed: frozenset[str]) -> None:
    topic = message.get("TopicArn")
    if not isinstance(topic, str) or topic not in allowed:
        raise Unverified(
            f"SNS topic {str(topic)[:200]!r} is not one this endpoint accepts  (MP_SES_TOPIC_ARNS)"
        )


def _names(certificate: x509.Certificate) -> set[str]:
    try:
        alternative = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return set(alternative.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        return {str(a.value) for a in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)}


def _issuer_urls(certificate: x509.Certificate) -> list[str]:
    """Where the certificate says its issuer's certificate is (Authority Information Access)."""
    try:
        access = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
    except x509.ExtensionNotFound:
        return []
    return [
        str(description.access_location.value)
        for description in access.value
        if description.access_method == AuthorityInformationAccessOID.CA_ISSUERS
        and isinstance(description.access_location, x509.UniformResourceIdentifier)
    ]


def _load(data: bytes) -> list[x509.Certificate]:
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


MAX_CERTIFICATES = 64


@dataclass
class CertificateCache:
    """SNS signing certificates by URL, verified once and kept while valid; failures kept briefly.

    ``trust`` holds the CAs a fetched certificate must chain to (intermediates come with it or from its
    issuer's Amazon Trust Services URL). None: the certificates are pinned by the operator
    (MP_SNS_CERTIFICATE_DIR) and only their name is checked.
    """

    fetch: Fetch
    trust: Store | None
    _verified: dict[str, x509.Certificate] = field(default_factory=dict)
    _failed: dict[str, tuple[float, str]] = field(default_factory=dict)  # url → (when, why)

    async def get(self, url: Any) -> x509.Certificate:
        url = check_sns_url(url)
        parts = urlsplit(url)
        if not parts.path.endswith(".pem"):
            raise Unverified("SigningCertURL is not a .pem certificate")
        # one entry per certificate, whatever query or fragment a sender adds (issue 34: a #fragment per
        # message grew the cache without end); the certificate is fetched from exactly this URL
        url = f"https://{parts.hostname}{parts.path}"
        if url in self._verified:
            return self._verified[url]
        failed = self._failed.get(url)
        if failed is not None and time.monotonic() - failed[0] < FAILURE_REMEMBERED_S:
            raise Unverified(f"the signing certificate failed within the last minute: {failed[1]}")
        try:
            certificate = await self._verify(url)
        except Unverified as error:
            self._failed[url] = (time.monotonic(), str(error))
            if len(self._failed) > 1000:
                self._failed.pop(next(iter(self._failed)))
            raise
        self._verified[url] = certificate
        while len(self._verified) > MAX_CERTIFICATES:  # SNS rotates a handful a year: the oldest go
            self._verified.pop(next(iter(self._verified)))
        return certificate

    async def _download(self, url: str, what: str) -> list[x509.Certificate]:
        try:
            data = await self.fetch(url)
            if len(data) > MAX_CERTIFICATE_BYTES:
                raise Unverified(f"the {what} is larger than {MAX_CERTIFICATE_BYTES} bytes")
            return _load(data)
        except Unverified:
            raise
        except Exception as error:
            raise Unverified(f"could not fetch the {what}: {type(error).__name__}: {error}") from None

    async def _verify(self, url: str) -> x509.Certificate:
        leaf, *intermediates = await self._download(url, "signing certificate")
        if SIGNING_NAME not in _names(leaf):
            raise Unverified(f"the signing certificate does not name {SIGNING_NAME}")
        if self.trust is None:
            return leaf
        verifier = (
            PolicyBuilder()
            .store(self.trust)
            .time(datetime.now(UTC))
            .build_server_verifier(x509.DNSName(SIGNING_NAME))
        )
        try:
            verifier.verify(leaf, intermediates)
            return leaf
        except VerificationError as error:
            problem = str(error)
        for issuer_url in _issuer_urls(leaf)[:2]:
            parts = urlsplit(issuer_url)
            if parts.scheme in ("http", "https") and ISSUER_HOST.match(parts.hostname or ""):
                intermediates += await self._download(issuer_url, "issuer's certificate")
        try:
            verifier.verify(leaf, intermediates)
        except VerificationError as error:
            reason = error or problem
            raise Unverified(f"the signing certificate does not chain to a trusted CA: {reason}") from None
        return leaf


@dataclass
class ReplayGuard:
    """MessageIds of accepted messages, each kept until its timestamp stops being valid. A message is
    remembered only once its events are in Kafka, so SNS's retry after a 503 is not taken for a replay."""

    _until: dict[str, float] = field(default_factory=dict)

    def seen(self, message_id: str, now: float) -> bool:
        return self._until.get(message_id, 0.0) > now

    def remember(self, message_id: str, sent_at: float) -> None:
        if len(self._until) >= REMEMBERED_MESSAGES:
            now = time.time()
            self._until = {key: until for key, until in self._until.items() if until > now}
            while len(self._until) >= REMEMBERED_MESSAGES:  # still full of valid ones: the oldest go
                self._until.pop(next(iter(self._until)))
        self._until[message_id] = sent_at + MAX_AGE_SECONDS


def string_to_sign(message: dict[str, Any]) -> bytes:
    fields = SIGNED_FIELDS[message["Type"]]
    return "".join(f"{name}\n{message[name]}\n" for name in fields if name in message).encode()


async def verify(
    message: Any, certificates: CertificateCache, topics: frozenset[str], now: float, allow_sha1: bool = True
) -> float:
    """Unverified unless ``message`` is a signed SNS message of an allowed topic, in time; its send time
    when it is. The topic is checked first: nothing is fetched for another one. Anything refused here was
    never verified, so it is kept only as its hash (docs/privacy.md). ``allow_sha1``: SignatureVersion 1
    (SHA1withRSA, a topic's default at AWS) is accepted; 2 (SHA256) always."""
    if (
        not isinstance(message, dict)
        or not isinstance(message.get("Type"), str)
        or message["Type"] not in SIGNED_FIELDS
    ):
        raise Unverified("not an SNS message (Type must be Notification or (Un)SubscriptionConfirmation)")
    check_topic(message, topics)
    # SignatureVersion 1 is SHA1withRSA by AWS's definition; senders choose 2 (SHA256) for new topics
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(str(message.get("SignatureVersion")))  # noqa: S303
    if algorithm is None:
        raise Unverified("SignatureVersion must be 1 or 2")
    if isinstance(algorithm, hashes.SHA1) and not allow_sha1:
        raise Unverified("SignatureVersion 1 (SHA1) is refused here (MP_SNS_ALLOW_SHA1=false): use 2")
    try:
        sent = datetime.fromisoformat(message["Timestamp"]).timestamp()
        signature = base64.b64decode(message["Signature"], validate=True)
        url = message["SigningCertURL"]
        signed = string_to_sign(message)
    except (KeyError, ValueError, TypeError, binascii.Error) as error:
        raise Unverified(f"SNS message lacks a readable signature field: {error}") from error
    if abs(now - sent) > MAX_AGE_SECONDS:
        stamp = message["Timestamp"]
        raise Unverified(f"SNS message is not within {MAX_AGE_SECONDS} s of now (Timestamp {stamp})")
    key = (await certificates.get(url)).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Unverified("the SNS signing certificate does not hold an RSA key")
    try:
        key.verify(signature, signed, padding.PKCS1v15(), algorithm)
    except InvalidSignature as error:
        raise Unverified("the SNS signature did not verify") from error
    return sent


def trust_store(pem: bytes) -> Store:
    """The CAs a fetched SNS certificate must chain to (a PEM bundle)."""
    return Store(x509.load_pem_x509_certificates(pem))
