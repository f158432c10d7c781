"""Ingest settings (env prefix ``MP_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from services.common.settings import CommonSettings


def _words(value: str) -> list[str]:
    return [word.strip() for word in value.split(",") if word.strip()]


class IngestSettings(CommonSettings):
    ingest_host: str = Field("127.0.0.1", description="Address ingest listens on")
    ingest_port: int = Field(8081, description="Port ingest listens on")
    ingest_max_events: int = Field(1000, ge=1, description="Most events one request may carry (413 beyond)")
    ingest_max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Largest request body (413 beyond)")
    ingest_produce_timeout_s: float = Field(
        10.0, gt=0, description="How long to wait for Kafka's ack (503 after)"
    )
    ingest_retry_after_s: int = Field(5, ge=1, description="Retry-After seconds sent with a 503")
    identity_secret: SecretStr = Field(
        SecretStr(""), description="Key for hashing email addresses and deriving constituent ids (required)"
    )
    stripe_webhook_secrets: SecretStr = Field(
        SecretStr(""), description="Stripe endpoint secrets (whsec_…), comma-separated: two during rotation"
    )
    sendgrid_verification_key: str = Field(
        "",
        description="SendGrid Event Webhook verification key (base64); when set, unsigned posts are refused",
    )
    sns_certificate_dir: Path | None = Field(
        None,
        description="Read SNS signing certificates from this folder (by file name) instead of fetching them",
    )
    beacon_origins: str = Field(
        "", description="Origins allowed to post the web beacon (CORS), comma-separated"
    )

    @property
    def stripe_secrets(self) -> list[str]:
        return _words(self.stripe_webhook_secrets.get_secret_value())

    @property
    def beacon_origin_list(self) -> list[str]:
        return _words(self.beacon_origins)
