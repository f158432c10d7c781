"""Where the Redis serving tier is (env prefix ``MP_``): shared by the sink that writes it and the API that
reads it (``MP_SERVING=redis``). docs/serving.md says how to run it."""

from __future__ import annotations

from pydantic import Field, SecretStr

from services.common.settings import CommonSettings


class RedisSettings(CommonSettings):
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"),
        description="Redis of the serving tier: redis:// or rediss:// (TLS), with the password (AUTH) and "
        "database; with Sentinel, only its scheme, password and database are used (never logged)",
    )
    redis_sentinels: str = Field(
        "",
        description="Sentinels as host:port[,…]: ask them which Redis is the master (and follow failovers) "
        "instead of the URL's host",
    )
    redis_sentinel_master: str = Field("mission-pulse", description="The master's name the Sentinels watch")
    redis_sentinel_password: SecretStr = Field(
        SecretStr(""), description="The Sentinels' own password, when they require one (a secret)"
    )
    redis_timeout_s: float = Field(
        1.0,
        gt=0,
        le=30,
        description="Longest wait for Redis to connect or answer (the API answers 503 after)",
    )
    redis_ca_file: str = Field(
        "", description="CA certificates (PEM) to trust for Redis's TLS (rediss://); the system's when unset"
    )
