"""Ingest settings (env prefix ``MP_``)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from services.common.settings import CommonSettings


def _words(value: str) -> list[str]:
    return [word.strip() for word in value.split(",") if word.strip()]


class IngestSettings(CommonSettings):
    ingest_host: str = Field("127.0.0.1", description="Address ingest listens on")
    ingest_port: int = Field(8081, description="Port ingest listens on")
    ingest_max_events: int = Field(1000, ge=1, description="Most events one request may carry (413 beyond)")
    ingest_max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Largest request body (413 beyond)")
    ingest_max_identify_bytes: int = Field(
        16 * 1024,
        ge=1024,
        description="Largest POST /v1/identify body: 413 beyond, read only after a known key was shown",
    )
    ingest_produce_timeout_s: float = Field(
        10.0, gt=0, description="How long to wait for Kafka's ack (503 after)"
    )
    ingest_retry_after_s: int = Field(5, ge=1, description="Retry-After seconds sent with a 503")
    ingest_dead_letters_per_minute: int = Field(
        100, ge=1, description="Dead letters one caller (key or provider) may cause per minute; then counted"
    )
    identity_secret: SecretStr = Field(
        SecretStr(""), description="Key for hashing email addresses and deriving constituent ids (required)"
    )
    stripe_webhook_secrets: SecretStr = Field(
        SecretStr(""), description="Stripe endpoint secrets (whsec_…), comma-separated: two during rotation"
    )
    sendgrid_verification_key: str = Field(
        "", description="SendGrid Event Webhook verification key (base64); unset: the webhook answers 503"
    )
    sendgrid_allow_unsigned: bool = Field(
        False, description="Accept unsigned SendGrid posts (only with MP_ENVIRONMENT=development)"
    )
    ses_topic_arns: str = Field(
        "", description="SNS topic ARNs whose SES messages are accepted, comma-separated; unset: 503"
    )
    sns_certificate_dir: Path | None = Field(
        None,
        description="Read SNS signing certificates from this folder (by file name) instead of fetching them",
    )
    sns_trust_file: Path | None = Field(
        None, description="CAs (PEM) a fetched SNS certificate must chain to; the certifi bundle when unset"
    )
    beacon_origins: str = Field(
        "", description="Origins (scheme://host[:port]) allowed to post the web beacon; unset: 503"
    )
    beacon_secret: SecretStr = Field(
        SecretStr(""), description="HMAC key of the beacon's user_hash (shared with the site); unset: 503"
    )
    beacon_sites: SecretStr = Field(
        SecretStr(""),
        description="Several sites, each with a secret of its own: origin=secret pairs, comma-separated "
        "(instead of MP_BEACON_ORIGINS and MP_BEACON_SECRET); a site's user and visitor ids and event ids "
        "are its own (site:id), so user 42 of one site is not user 42 of another",
    )
    beacon_rate_per_second: float = Field(
        5.0, gt=0, description="Beacon posts per second from one client address, bursts of twice that"
    )
    webhook_rate_per_second: float = Field(
        100.0, gt=0, description="Posts per second to one provider's webhook, bursts of twice that"
    )
    webhook_events_per_second: float = Field(
        5000.0, gt=0, description="Events per second through one provider's webhook, bursts of twice that"
    )
    webhook_unverified_rate_per_second: float = Field(
        5.0,
        gt=0,
        description="Webhook posts per second from one client address before their signature is checked, "
        "bursts of twice that: unsigned junk spends its sender's budget, never the provider's",
    )
    sns_allow_sha1: bool = Field(
        True,
        description="Accept SNS SignatureVersion 1 (SHA1withRSA, AWS's default for a topic); set false once "
        "the SES topics sign with SignatureVersion 2 (SHA256)",
    )
    trusted_proxies: str = Field(
        "",
        description="Addresses or networks (CIDR) of the proxies in front of ingest, comma-separated: only "
        "from these is X-Forwarded-For believed, for the per-client rate limits",
    )

    @field_validator("beacon_sites")
    @classmethod
    def _sites(cls, value: SecretStr) -> SecretStr:
        for pair in _words(value.get_secret_value()):
            origin, _, secret = pair.partition("=")
            if not origin.startswith(("https://", "http://")) or not secret:
                raise ValueError("MP_BEACON_SITES: each entry is origin=secret (https://www.org.example=...)")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for word in _words(value):
            try:
                ip_network(word, strict=False)
            except ValueError as error:
                raise ValueError(f"MP_TRUSTED_PROXIES: {word!r} is not an address or network") from error
        return value

    @property
    def trusted_proxy_networks(self) -> list[IPv4Network | IPv6Network]:
        return [ip_network(word, strict=False) for word in _words(self.trusted_proxies)]

    @property
    def stripe_secrets(self) -> list[str]:
        return _words(self.stripe_webhook_secrets.get_secret_value())

    @property
    def beacon_origin_list(self) -> list[str]:
        return list(self.beacon_site_secrets) if self.beacon_site_secrets else _words(self.beacon_origins)

    @property
    def beacon_site_secrets(self) -> dict[str, bytes]:
        """origin -> its own secret, from MP_BEACON_SITES ({} when the single-site settings are used)."""
        sites = {}
        for pair in _words(self.beacon_sites.get_secret_value()):
            origin, _, secret = pair.partition("=")
            if not origin or not secret:
                raise ValueError("MP_BEACON_SITES: each entry is origin=secret")
            sites[origin] = secret.encode()
        return sites

    @property
    def ses_topic_arn_list(self) -> frozenset[str]:
        return frozenset(_words(self.ses_topic_arns))
