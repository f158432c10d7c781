"""Ingest settings (env prefix ``MP_``)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class IngestSettings(CommonSettings):
    ingest_host: str = Field("127.0.0.1", description="Address ingest listens on")
    ingest_port: int = Field(8081, description="Port ingest listens on")
    ingest_max_events: int = Field(1000, ge=1, description="Most events one request may carry (413 beyond)")
    ingest_max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Largest request body (413 beyond)")
    ingest_produce_timeout_s: float = Field(
        10.0, gt=0, description="How long to wait for Kafka's ack (503 after)"
    )
    ingest_retry_after_s: int = Field(5, ge=1, description="Retry-After seconds sent with a 503")
