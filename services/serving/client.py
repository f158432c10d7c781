"""A Redis client of the serving tier from its settings: one Redis by URL, or the master the Sentinels name.

With Sentinel, every new connection asks the Sentinels where the master is, and a connection to a master
that was demoted fails (Sentinel disconnects the clients of the instances it reconfigures, and redis-py turns
a read-only answer into a connection error): a reader sees errors during a failover — the API answers 503
with Retry-After — and never a demoted replica's data.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import parse_url
from redis.asyncio.sentinel import Sentinel

from services.serving.settings import RedisSettings


def sentinel_addresses(listed: str) -> list[tuple[str, int]]:
    """``host:port,host:port`` as the pairs redis-py takes (ValueError naming the one that is not)."""
    addresses = []
    for item in filter(None, (part.strip() for part in listed.split(","))):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"MP_REDIS_SENTINELS: {item!r} is not host:port")
        addresses.append((host, int(port)))
    return addresses


def connect(settings: RedisSettings) -> Redis:
    """A client (connections are made on first use): by URL, or through the Sentinels when listed. With
    ``rediss://`` every connection — to Redis and to the Sentinels — is TLS, trusting ``MP_REDIS_CA_FILE``
    (or the system's CAs)."""
    url = settings.redis_url.get_secret_value()
    options: dict[str, Any] = {
        "socket_timeout": settings.redis_timeout_s,
        "socket_connect_timeout": settings.redis_timeout_s,
    }
    tls = url.startswith("rediss://")
    if tls and settings.redis_ca_file:
        options["ssl_ca_certs"] = settings.redis_ca_file
    if not settings.redis_sentinels:
        return Redis.from_url(url, **options)
    if tls:
        options["ssl"] = True
    parsed = parse_url(url)
    connection: dict[str, Any] = {
        **options,
        "password": parsed.get("password"),
        "username": parsed.get("username"),
        "db": parsed.get("db", 0),
    }
    sentinel_password = settings.redis_sentinel_password.get_secret_value() or None
    sentinel = Sentinel(
        sentinel_addresses(settings.redis_sentinels),
        sentinel_kwargs={**options, "password": sentinel_password},
        **connection,
    )
    master: Redis = sentinel.master_for(settings.redis_sentinel_master, **connection)
    return master
