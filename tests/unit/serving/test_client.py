"""The serving tier's client from its settings: one Redis by URL, or the master the Sentinels name; TLS
and passwords wherever the URL says (no connection is made: only what would be connected to, and how)."""

from __future__ import annotations

import pytest
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.sentinel import SentinelConnectionPool, SentinelManagedSSLConnection

from services.serving.client import connect, sentinel_addresses
from services.serving.settings import RedisSettings


def settings(**values: object) -> RedisSettings:
    return RedisSettings(**values)  # type: ignore[arg-type]


def test_a_url_names_one_redis_with_its_password_and_database() -> None:
    client = connect(settings(redis_url="redis://:s3cret@cache.internal:6380/2", redis_timeout_s=0.7))
    kwargs = client.connection_pool.connection_kwargs
    assert client.connection_pool.connection_class is Connection
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["password"]) == (
        "cache.internal",
        6380,
        2,
        "s3cret",
    )
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.7


def test_rediss_is_tls_trusting_the_configured_ca() -> None:
    client = connect(
        settings(redis_url="rediss://cache.internal:6379/0", redis_ca_file="/etc/redis-ca/ca.pem")
    )
    assert client.connection_pool.connection_class is SSLConnection
    assert client.connection_pool.connection_kwargs["ssl_ca_certs"] == "/etc/redis-ca/ca.pem"
    plain = connect(settings(redis_url="redis://cache.internal:6379/0", redis_ca_file="/etc/redis-ca/ca.pem"))
    assert "ssl_ca_certs" not in plain.connection_pool.connection_kwargs  # no CA for a plaintext URL


def test_with_sentinels_the_master_is_asked_of_them_with_the_urls_password_and_tls() -> None:
    client = connect(
        settings(
            redis_url="rediss://:s3cret@ignored-host/3",
            redis_sentinels="s-0.redis:26379, s-1.redis:26380",
            redis_sentinel_master="pulse",
            redis_sentinel_password="sentinel-secret",
        )
    )
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.is_master and pool.service_name == "pulse"
    assert pool.connection_class is SentinelManagedSSLConnection
    assert (pool.connection_kwargs["password"], pool.connection_kwargs["db"]) == ("s3cret", 3)
    sentinels = pool.sentinel_manager.sentinels
    assert [s.connection_pool.connection_kwargs["port"] for s in sentinels] == [26379, 26380]
    for sentinel in sentinels:
        kwargs = sentinel.connection_pool.connection_kwargs
        assert kwargs["password"] == "sentinel-secret"
        assert sentinel.connection_pool.connection_class is SSLConnection


@pytest.mark.parametrize("listed", ["s-0.redis", "s-0.redis:port", ":26379", "a:1,b"])
def test_a_sentinel_that_is_not_host_port_is_named(listed: str) -> None:
    with pytest.raises(ValueError, match="MP_REDIS_SENTINELS"):
        sentinel_addresses(listed)
