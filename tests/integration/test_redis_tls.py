"""The serving tier over TLS with AUTH, as deploy/ runs it: a real redis-server that speaks only TLS and
requires a password; sink and API clients (services/serving/client.py) reach it with `rediss://` and the CA,
and are refused without the password, without the CA, or in plaintext."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from redis.exceptions import AuthenticationError, ConnectionError, RedisError

from services.common.processes import free_port
from services.serving.client import connect
from services.serving.local_redis import start_redis
from services.serving.redis_scores import RedisScores, ScoreWrite
from services.serving.settings import RedisSettings
from tests.fixtures.redis_server import tls_files
from tests.unit.api.test_score_view import published

pytestmark = pytest.mark.integration
PASSWORD = "a-redis-password"


async def test_a_tls_only_redis_with_a_password_is_written_and_read_with_rediss_the_ca_and_the_password(
    tmp_path: Path,
) -> None:
    ca, certificate, key = tls_files(tmp_path / "tls")
    port = free_port()
    tls = ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(certificate)]
    tls += ["--tls-key-file", str(key), "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no"]
    probe = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(ca), password=PASSWORD)
    server = start_redis(port, tmp_path / "redis", *tls, "--requirepass", PASSWORD, probe=probe)
    try:
        url = f"rediss://:{PASSWORD}@127.0.0.1:{port}/0"
        client = connect(RedisSettings(redis_url=url, redis_ca_file=str(ca)))
        store = RedisScores(client, "v-tls", ["donor"], 1)
        written = await store.write([ScoreWrite(0, 7, b"c-1", published("c-1", 42.0, ("donor",)))])
        assert written.changed == 1
        assert (await store.get("c-1") or {})["scores"] == {"overall": 42.0}
        await client.aclose()

        refused: dict[str, type[RedisError]] = {
            f"rediss://:wrong@127.0.0.1:{port}/0": AuthenticationError,  # a wrong password
            f"rediss://127.0.0.1:{port}/0": AuthenticationError,  # none (NOAUTH)
            f"redis://:{PASSWORD}@127.0.0.1:{port}/0": ConnectionError,  # plaintext to a TLS port
        }
        for bad, error in refused.items():
            other = connect(RedisSettings(redis_url=bad, redis_ca_file=str(ca), redis_timeout_s=2))
            with pytest.raises(error):
                await RedisScores(other, "v-tls", ["donor"], 1).get("c-1")
            await other.aclose()
        untrusting = connect(RedisSettings(redis_url=url, redis_timeout_s=2))
        with pytest.raises(ConnectionError, match="certificate verify failed"):  # the system's CAs only
            await RedisScores(untrusting, "v-tls", ["donor"], 1).get("c-1")
        await untrusting.aclose()
    finally:
        server.terminate()
        server.wait(timeout=10)
