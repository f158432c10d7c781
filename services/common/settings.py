"""Settings every service shares: where Kafka is and what the topics are called. Env prefix ``MP_``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MP_", extra="ignore")

    environment: Literal["production", "development"] = Field(
        "production",
        description="development lets a service run without keys or webhook verifiers (make run sets it)",
    )
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,…]")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How every client talks to Kafka: PLAINTEXT, SSL or SASL_SSL"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism with SASL_SSL"
    )
    kafka_username: str = Field("", description="SASL username with SASL_SSL")
    kafka_password: SecretStr = Field(SecretStr(""), description="SASL password with SASL_SSL (a secret)")
    kafka_ca_file: Path | None = Field(
        None, description="CA certificates (PEM) to trust for the brokers' TLS; the system's when unset"
    )
    topic_touchpoints: str = Field("touchpoints", description="Validated touchpoint events")
    topic_scores: str = Field("constituent-scores", description="Latest state per constituent (compacted)")
    topic_alerts: str = Field("alerts", description="Alert updates, keyed by alert_id")
    topic_dead_letters: str = Field(
        "touchpoints.dlq", description="Refused input with its reason (dead letters)"
    )
    topic_identities: str = Field("identity-links", description="Identifier → constituent links (compacted)")
    topic_reports: str = Field(
        "experience-report", description="Mission Experience report windows, keyed by window (compacted)"
    )
    topic_erasures: str = Field(
        "erasures", description="Erasure requests by constituent, and the suppression list (compacted)"
    )
    topic_versions: str = Field(
        "model-versions",
        description="Which scoring model version is live and where its scores are (compacted)",
    )
    kafka_request_timeout_s: float = Field(
        5.0,
        gt=0,
        le=120,
        description="Longest wait for one broker's answer before a producer asks the partition's new leader",
    )
    kafka_batch_bytes: int = Field(
        512 * 1024,
        ge=16 * 1024,
        le=1024 * 1024,
        description="Largest batch of records a producer sends to one partition at a time (under the "
        "broker's 1 MiB message limit)",
    )
    topic_partitions: int = Field(8, ge=1, description="Partitions of touchpoints and constituent-scores")
    topic_replication: int = Field(1, ge=1, description="Replication factor of topics Mission Pulse creates")
    topic_min_insync_replicas: int = Field(
        1, ge=1, description="min.insync.replicas of the topics it creates (2 with 3 replicas)"
    )
    touchpoints_retention_days: float = Field(
        30.0, gt=0, description="How long touchpoints (and dead letters) stay on their topics (retention.ms)"
    )
    scoring_config: Path = Field(
        REPO_ROOT / "deploy" / "config" / "scoring.toml", description="Scoring model file (TOML)"
    )
    alerts_config: Path = Field(
        REPO_ROOT / "deploy" / "config" / "alerts.toml", description="Alert rules file (TOML)"
    )
    scorer_app_id: str = Field(
        "mission-pulse-scorer", description="Faust app id = the scorer's Kafka consumer group"
    )
    auth_config: Path | None = Field(None, description="API keys and their scopes (TOML of SHA-256 digests)")
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR")
    shutdown_grace_s: float = Field(
        5.0,
        gt=0,
        description="On SIGTERM, how long open requests (a live alert stream stays open for good) may "
        "finish before ingest and the API close them and stop",
    )
    gc_young_threshold: int = Field(
        10_000,
        ge=100,
        description="Allocations between young-generation garbage collections (CPython's default: 700)",
    )
    heap_trim_interval_s: float = Field(
        1.0,
        ge=0,
        description="How often the scorer hands the memory it freed back to the system (glibc's "
        "malloc_trim; 0: never): its resident memory stays near what it holds",
    )
    tracemalloc_every_s: float = Field(
        0.0,
        ge=0,
        description="A diagnostic: trace Python allocations and log the sites that grew most this often "
        "(0: off; tracing slows the service two to three times)",
    )

    @property
    def development(self) -> bool:
        return self.environment == "development"


class ClientSettings(BaseSettings):
    """What the command-line clients (erase, dlq-replay, simulate, report) read: where the services are,
    and keys."""

    model_config = SettingsConfigDict(env_prefix="MP_", extra="ignore")

    api_url: str = Field("http://127.0.0.1:8080", description="The API the erase command asks")
    ingest_url: str = Field("http://127.0.0.1:8081", description="Ingest for the simulator and dlq-replay")
    ingest_api_key: SecretStr | None = Field(None, description="A key with the ingest scope (clients)")
    erase_key: SecretStr | None = Field(None, description="A key with the erase scope (mission-pulse erase)")
    read_token: SecretStr | None = Field(None, description="A key with the read scope (mission-pulse report)")
    write_token: SecretStr | None = Field(None, description="Older name for a writing key; erase falls back")

    def read_secret(self) -> str | None:
        key = self.read_token or self.write_token
        return key.get_secret_value() if key else None

    def erase_secret(self) -> str | None:
        key = self.erase_key or self.write_token
        return key.get_secret_value() if key else None

    def ingest_secret(self) -> str | None:
        return self.ingest_api_key.get_secret_value() if self.ingest_api_key else None
