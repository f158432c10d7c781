"""Sink settings (env prefix ``MP_``): how the sink reads the scores topic; where Redis is: RedisSettings."""

from __future__ import annotations

from pydantic import Field

from services.serving.settings import RedisSettings


class SinkSettings(RedisSettings):
    sink_group: str = Field(
        "mission-pulse-sink", description="Consumer group of the sinks: add replicas to share the partitions"
    )
    sink_batch_records: int = Field(2_000, ge=1, le=100_000, description="Records written per round trip")
    sink_metrics_host: str = Field("127.0.0.1", description="Address of the sink's /metrics")
    sink_metrics_port: int = Field(9109, description="Port of the sink's /metrics (Prometheus)")
    sink_retry_s: float = Field(2.0, gt=0, description="Wait before trying again when Redis or Kafka is away")
