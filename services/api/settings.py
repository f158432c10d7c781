"""API settings (env prefix ``MP_``); where Redis is (``MP_SERVING=redis``): RedisSettings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.serving.settings import RedisSettings


class ApiSettings(RedisSettings):
    serving: Literal["memory", "redis"] = Field(
        "memory",
        description="Where scores are served from: memory (each replica replays the scores topic) or redis "
        "(the sink writes them to Redis, MP_REDIS_*; replicas are stateless readers) — docs/serving.md",
    )
    redis_retry_after_s: int = Field(
        2, ge=1, le=60, description="Retry-After of the 503 answered while Redis is away (redis mode)"
    )
    api_host: str = Field("127.0.0.1", description="Address the API listens on")
    api_port: int = Field(8080, description="Port the API listens on")
    api_alerts_kept: int = Field(
        10_000, ge=10, description="Alerts kept in memory (and replayable over SSE); dead letters too"
    )
    api_dead_letters_max_bytes: int = Field(
        32 * 2**20, ge=2**16, description="Most bytes of dead letters kept in memory (counts stay exact)"
    )
    api_alertmanager_url: str = Field(
        "", description="Alertmanager base URL to forward alerts to (off when empty)"
    )
    api_alertmanager_resend_s: float = Field(
        60.0, gt=0, description="How often open alerts are re-sent to it"
    )
    api_public_url: str = Field(
        "", description="This API's URL as operators reach it (links in forwarded alerts)"
    )
    api_escalation_interval_s: float = Field(
        10.0,
        ge=0,
        description="How often open alerts are checked against their rule's ack_within_minutes "
        "(0: never escalate)",
    )
    api_sse_heartbeat_s: float = Field(15.0, gt=0, description="Seconds between SSE keep-alive comments")
    api_interactive_docs: bool = Field(
        False,
        description="Serve the interactive OpenAPI pages (/docs, /redoc) beside the console: they load "
        "scripts from a CDN and run inline ones, so the console's origin would serve a looser policy "
        "(make run turns them on; /openapi.json is always served)",
    )
    api_max_streams_per_key: int = Field(
        10, ge=1, description="Live alert streams one key may hold open at once (429 beyond)"
    )
    api_max_body_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest request body (an operator's note, an erasure's reason): 413 beyond, read only "
        "after a known key was shown (401 before)",
    )
    api_write_timeout_s: float = Field(
        5.0, gt=0, description="How long an alert action waits for Kafka to acknowledge it (503 after)"
    )
    api_read_back_timeout_s: float = Field(
        5.0,
        ge=0,
        description="How long an acknowledged action waits for this replica's view to show it (202 after)",
    )
