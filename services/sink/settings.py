"""Sink settings (env prefix ``MP_``): where Redis is, and how the sink reads the scores topic."""

from __future__ import annotations

from pydantic import Field, SecretStr

from services.common.settings import CommonSettings


class SinkSettings(CommonSettings):
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"),
        description="Redis the serving tier writes to (redis:// or rediss:// for TLS; a password in the URL "
        "is never logged)",
    )
    sink_group: str = Field(
        "mission-pulse-sink", description="Consumer group of the sinks: add replicas to share the partitions"
    )
    sink_batch_records: int = Field(2_000, ge=1, le=100_000, description="Records written per round trip")
    sink_metrics_host: str = Field("127.0.0.1", description="Address of the sink's /metrics")
    sink_metrics_port: int = Field(9109, description="Port of the sink's /metrics (Prometheus)")
    sink_retry_s: float = Field(2.0, gt=0, description="Wait before trying again when Redis or Kafka is away")
